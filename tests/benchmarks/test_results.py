"""benchmarks/results.py: one file pair per experiment, an index, and no lost experiment when
benchmarks write side by side."""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_results():
    """benchmarks/results.py as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "benchmarks_results", REPO / "benchmarks" / "results.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


results = _load_results()
Record = results.Record


def _record(i: int, headline: bool = True) -> Record:
    return Record(
        "office",
        f"model-{i}",
        "ndcg@10",
        i / 1000,
        "test, full ranking",
        0.001,
        (42,),
        headline=headline,
    )


def _write_many(root: str, process: int, writes: int) -> list[str]:
    """One benchmark process: ``writes`` experiments of its own, each written once."""
    names = []
    for j in range(writes):
        name = f"p{process}-{j:03d}"
        results.write_experiment(
            name, f"report {name}", [_record(j)], title=f"experiment {name}", root=Path(root)
        )
        names.append(name)
    return names


def test_writers_in_parallel_lose_no_experiment(tmp_path):
    processes, writes = 4, 25
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        jobs = [pool.submit(_write_many, str(tmp_path), p, writes) for p in range(processes)]
        names = [name for job in jobs for name in job.result()]
    assert len(set(names)) == processes * writes
    index = (tmp_path / "README.md").read_text()
    for name in names:
        assert "report " + name in (tmp_path / f"{name}.md").read_text()
        experiment = results.Experiment.load(tmp_path / f"{name}.json")
        assert experiment.name == name and len(experiment.records) == 1
        assert f"[{name}]({name}.md)" in index
    assert sorted(e.name for e in results.load_experiments(tmp_path)) == sorted(names)
    assert index == results.render_index(results.load_experiments(tmp_path))
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_an_experiment_keeps_its_hand_written_notes(tmp_path):
    md = results.write_experiment(
        "exp", "## Title\n\nfirst", [_record(1)], title="Title", root=tmp_path
    )
    text = md.read_text()
    assert text.startswith("# Title\n") and "## Title" not in text  # the heading is not repeated
    md.write_text(text + f"\n{results.NOTES}\nwhy the numbers look so\n")
    results.write_experiment("exp", "second", [_record(2)], title="Title", root=tmp_path)
    text = md.read_text()
    assert "second" in text and "first" not in text
    assert text.endswith(f"{results.NOTES}\nwhy the numbers look so\n")
    assert results.Experiment.load(tmp_path / "exp.json").records[0].value == 0.002


def test_records_fill_commit_and_machine_and_round_trip(tmp_path):
    given = Record("beauty", "sasrec", "recall@10", 0.0843, ci=0.0036, seeds=[42, 43])
    results.write_experiment(
        "exp",
        "x",
        [given],
        title="t",
        script="benchmarks/x.py",
        commit="abc",
        machine="cpu",
        updated="2026-12-01",
        root=tmp_path,
    )
    raw = json.loads((tmp_path / "exp.json").read_text())
    assert raw["schema"] == results.SCHEMA and raw["script"] == "benchmarks/x.py"
    assert raw["records"][0] | {"commit": "abc"} == raw["records"][0]
    loaded = results.Experiment.load(tmp_path / "exp.json").records[0]
    assert loaded.seeds == (42, 43) and loaded.machine == "cpu" and loaded.commit == "abc"


def test_bad_names_values_and_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="experiment name"):
        results.write_experiment("../up", "x", [], title="t", root=tmp_path)
    with pytest.raises(ValueError, match="experiment name"):
        results.write_experiment("README", "x", [], title="t", root=tmp_path)
    with pytest.raises(ValueError, match="value nan"):
        Record("d", "m", "x", float("nan"))
    (tmp_path / "broken.json").write_text('{"schema": 0}')
    with pytest.raises(ValueError, match="broken.json"):
        results.load_experiments(tmp_path)


def test_the_index_lists_headline_records_and_every_experiment():
    a = results.Experiment(
        "sasrec-beauty",
        "SASRec on Beauty",
        (
            Record(
                "beauty", "sasrec", "recall@10", 0.0843, "test", 0.0036, (42, 43), headline=True
            ),
            Record("beauty", "sasrec", "ndcg@10", 0.0422, "test", 0.002, (42, 43), headline=True),
            Record("beauty", "sasrec", "ndcg@5", 0.0331, "test"),
        ),
        "benchmarks/sasrec.py",
        "2026-11-22",
    )
    b = results.Experiment(
        "decoding",
        "Decoding | speed",
        (Record("synthetic", "beam search", "users/s", 16891.4, headline=True),),
        None,
        "2026-12-01",
    )
    lines = results.render_index([b, a]).splitlines()
    head = lines.index("## Headline numbers")
    rows = [line for line in lines[head:] if line.startswith("| ") and "](" in line][:2]
    assert rows == [
        "| beauty | sasrec | recall@10 0.0843 ± 0.0036; ndcg@10 0.0422 ± 0.0020 | test | 42, 43 "
        "| [sasrec-beauty](sasrec-beauty.md) |",
        "| synthetic | beam search | users/s 16,891 |  | - | [decoding](decoding.md) |",
    ]
    assert "ndcg@5" not in "\n".join(lines)  # not a headline record
    assert "| [decoding](decoding.md) | Decoding \\| speed | by hand | 2026-12-01 | 1 |" in lines
    assert (
        "| [sasrec-beauty](sasrec-beauty.md) | SASRec on Beauty | `benchmarks/sasrec.py` "
        "| 2026-11-22 | 3 |"
    ) in lines


def test_the_committed_results_are_whole_and_indexed():
    root = results.RESULTS
    experiments = results.load_experiments(root)  # every JSON file follows the schema
    names = {e.name for e in experiments}
    assert names == {p.stem for p in root.glob("*.md")} - {"README"}
    assert all(e.records for e in experiments), "every experiment has numbers"
    assert all(any(r.headline for r in e.records) for e in experiments), "and a headline"
    assert (root / "README.md").read_text() == results.render_index(experiments), (
        "benchmarks/results/README.md is stale: run `python benchmarks/results.py`"
    )
