"""Where benchmark results go: one Markdown and one JSON file per experiment, and an index.

    benchmarks/results/<experiment>.md    for people: the report (tables, machine, commit,
                                          commands), then hand-written notes below NOTES
    benchmarks/results/<experiment>.json  the numbers, for programs (schema below)
    benchmarks/results/README.md          the index, generated from every JSON file

A benchmark calls ``write_experiment`` once per experiment it measured. It writes that
experiment's two files and nothing else of anyone's (each file atomically: a temporary file
renamed over it), then regenerates the index from all the JSON files. The whole write holds an
exclusive lock on ``results/.lock`` (``fcntl.flock``), so benchmarks finishing together never
lose each other's experiments, and the index always lists every experiment on disk.

JSON schema (``"schema": 1``)::

    {"schema": 1, "experiment": "sasrec-ce-beauty", "title": "...",
     "script": "benchmarks/sasrec.py" or null (written by hand), "updated": "YYYY-MM-DD",
     "notes": "free text",
     "records": [{"dataset": "beauty", "model": "sasrec-ce", "protocol": "test, full ranking",
                  "metric": "ndcg@10", "value": 0.0422, "ci": 0.0020 or null,
                  "seeds": [42], "commit": "76f34af", "machine": "AMD EPYC, 2 cores, ...",
                  "headline": true, "notes": ""}, ...]}

``ci`` is the ``±`` printed beside the value: the half-width of the 95% CI over users for one
run, the std across seeds for several. ``headline`` records make the index's table.

    python benchmarks/results.py            # regenerate the index (after editing a JSON file)
    python benchmarks/results.py --check    # exit 1 if the index is not what the JSON says
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from genrec.atomic import atomic_file

RESULTS = Path(__file__).resolve().parent / "results"
INDEX = "README.md"
SCHEMA = 1
#: Everything below this line of an experiment's Markdown file survives its benchmark's rewrite.
NOTES = "<!-- hand-written notes below: kept when the benchmark rewrites this file -->"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


@dataclass(frozen=True)
class Record:
    """One measured number and what it was measured on."""

    dataset: str  # "beauty", "office", "synthetic 12,101 items", ...
    model: str  # the row it came from: "sasrec-ce", "decoder-only, 20 beams, bfloat16"
    metric: str  # "ndcg@10", "users/s (batch 256)", "build s"
    value: float
    protocol: str = ""  # how: "test, full ranking", "test, history removed", "batch 1, p50"
    ci: float | None = None  # the ± beside the value (see the module docstring)
    seeds: tuple[int, ...] = ()
    commit: str = ""
    machine: str = ""
    headline: bool = False  # shown in the index's table
    notes: str = ""

    def __post_init__(self) -> None:
        for name in ("value", "ci"):
            number = getattr(self, name)
            if number is not None and not math.isfinite(number):
                raise ValueError(f"{self.dataset} / {self.model} / {self.metric}: {name} {number}")
        object.__setattr__(self, "seeds", tuple(self.seeds))


@dataclass(frozen=True)
class Experiment:
    """One experiment as its JSON file holds it."""

    name: str
    title: str
    records: tuple[Record, ...] = ()
    script: str | None = None
    updated: str = ""
    notes: str = ""

    def to_json(self) -> str:
        """The JSON file: the experiment's fields, then one record per line."""
        head = {
            "schema": SCHEMA,
            "experiment": self.name,
            "title": self.title,
            "script": self.script,
            "updated": self.updated,
            "notes": self.notes,
        }
        lines = [f" {json.dumps(k)}: {_json(v)}," for k, v in head.items()]
        records = [_json({**dataclasses.asdict(r), "seeds": list(r.seeds)}) for r in self.records]
        body = ",\n".join(f"  {r}" for r in records)
        return "{\n" + "\n".join(lines) + '\n "records": [\n' + body + "\n ]\n}\n"

    @classmethod
    def load(cls, path: Path) -> Experiment:
        """Read ``path``; a file that does not follow the schema is an error naming it."""
        try:
            raw = json.loads(path.read_text())
            if raw.get("schema") != SCHEMA:
                raise ValueError(f"schema {raw.get('schema')!r}, expected {SCHEMA}")
            records = tuple(Record(**r) for r in raw["records"])
            return cls(
                raw["experiment"],
                raw["title"],
                records,
                raw["script"],
                raw["updated"],
                raw["notes"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a results file of schema {SCHEMA}: {exc}") from exc


def write_experiment(
    name: str,
    markdown: str,
    records: Sequence[Record],
    *,
    title: str,
    script: str | None = None,
    notes: str = "",
    commit: str = "",
    machine: str = "",
    updated: str | None = None,
    root: Path | None = None,
) -> Path:
    """Write experiment ``name``'s Markdown report and JSON numbers, then the index; returns
    the Markdown file. ``commit`` and ``machine`` fill the records that leave them empty. A
    heading equal to ``title`` opening ``markdown`` is not repeated. The hand-written notes of
    an existing file (below ``NOTES``) are kept. ``root`` defaults to $GENREC_RESULTS_DIR,
    else benchmarks/results."""
    if not _NAME.fullmatch(name) or name == INDEX.removesuffix(".md"):
        raise ValueError(f"experiment name {name!r}: expected lowercase letters, digits, . _ -")
    root = results_dir(root)
    stamped = tuple(
        dataclasses.replace(r, commit=r.commit or commit, machine=r.machine or machine)
        for r in records
    )
    experiment = Experiment(
        name, title, stamped, script, updated or time.strftime("%Y-%m-%d"), notes
    )
    with locked(root):
        md = root / f"{name}.md"
        kept = md.read_text().partition(NOTES)[2] if md.is_file() else ""
        text = _page(experiment, markdown) + (f"\n{NOTES}{kept}" if kept else "")
        with atomic_file(root / f"{name}.json") as tmp:
            tmp.write_text(experiment.to_json())
        with atomic_file(md) as tmp:
            tmp.write_text(text)
        _write_index(root)
    return md


def dataset_name(path: str) -> str:
    """A record's dataset from a recipe's ``data.path``: ../shared/data/amazon2014-beauty ->
    beauty, office -> office, data/instruments -> instruments."""
    return Path(path).name.removeprefix("amazon2014-").removeprefix("amazon2023-")


def results_dir(root: Path | None = None) -> Path:
    """``root``, else $GENREC_RESULTS_DIR, else benchmarks/results."""
    return Path(root or os.environ.get("GENREC_RESULTS_DIR") or RESULTS)


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold the exclusive lock of the results folder ``root`` (waits for other writers)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_experiments(root: Path | None = None) -> list[Experiment]:
    """Every experiment under ``root``, by name."""
    return [Experiment.load(p) for p in sorted(results_dir(root).glob("*.json"))]


def render_index(experiments: Sequence[Experiment]) -> str:
    """The index: one table of the headline records of every experiment (a row per dataset,
    model, protocol and seeds, its headline metrics side by side, linking the experiment),
    then every experiment with its title."""
    rows: dict[tuple[str, str, str, str, tuple[int, ...]], list[Record]] = {}
    for e in experiments:
        for r in e.records:
            if r.headline:
                rows.setdefault((r.dataset, e.name, r.model, r.protocol, r.seeds), []).append(r)
    lines = [
        "# Benchmark results",
        "",
        "One experiment per file: Markdown for people, a JSON file beside it with the numbers",
        "(dataset, model, protocol, metric, value, CI, seeds, commit, machine). Generated by",
        "`benchmarks/results.py` from the JSON files; do not edit it by hand (`python",
        "benchmarks/results.py` rebuilds it).",
        "",
        "## Headline numbers",
        "",
        "| dataset | model | headline metrics | protocol | seeds | experiment |",
        "|---|---|---|---|---|---|",
    ]
    for (dataset, name, model, protocol, seeds), records in sorted(
        rows.items(), key=lambda item: item[0][:2]
    ):
        metrics = "; ".join(f"{r.metric} {_value(r)}" for r in records)
        seeds_text = ", ".join(map(str, seeds)) or "-"
        cells = [dataset, model, metrics, protocol, seeds_text, f"[{name}]({name}.md)"]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += [
        "",
        "_± is the half-width of the 95% CI over users for one run, the std across seeds for "
        "several._",
        "",
        "## Experiments",
        "",
        "| experiment | what | written by | updated | numbers |",
        "|---|---|---|---|---:|",
    ]
    for e in sorted(experiments, key=lambda e: e.name):
        script = f"`{e.script}`" if e.script else "by hand"
        cells = [f"[{e.name}]({e.name}.md)", e.title, script, e.updated, str(len(e.records))]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_index(root: Path | None = None) -> Path:
    """Regenerate the index of ``root`` from its JSON files, under the lock."""
    root = results_dir(root)
    with locked(root):
        return _write_index(root)


def _write_index(root: Path) -> Path:
    with atomic_file(root / INDEX) as tmp:
        tmp.write_text(render_index(load_experiments(root)))
    return root / INDEX


def _page(experiment: Experiment, markdown: str) -> str:
    """The Markdown file: title, where it comes from, the report."""
    body = markdown.strip("\n")
    first, _, rest = body.partition("\n")
    if first.lstrip("#").strip() == experiment.title and first.startswith("#"):
        body = rest.strip("\n")
    source = f"`{experiment.script}`" if experiment.script else "hand-written"
    return (
        f"# {experiment.title}\n\n"
        f"_{source}, updated {experiment.updated}; numbers in "
        f"[{experiment.name}.json]({experiment.name}.json); "
        f"[all results](README.md)._\n\n{body}\n"
    )


def _value(record: Record) -> str:
    digits = _digits(record.value)
    if record.ci is None:
        return f"{record.value:,.{digits}f}"
    return f"{record.value:,.{digits}f} ± {record.ci:,.{max(digits, _digits(record.ci))}f}"


def _digits(value: float) -> int:
    """Decimals that show a metric as the reports do: 0.0422, 3.42, 16,891."""
    if float(value).is_integer() or abs(value) >= 100:
        return 0
    return 2 if abs(value) >= 1 else 4


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def machine() -> str:
    """CPU model, cores, GPU (if any) and torch version, for every results header."""
    import torch  # here, so that writing results needs no torch

    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in info.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {time.strftime('%Y-%m-%d')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Regenerate benchmarks/results/README.md.")
    parser.add_argument("--root", type=Path, default=None, help="default: benchmarks/results")
    parser.add_argument("--check", action="store_true", help="exit 1 if the index is stale")
    args = parser.parse_args()
    root = results_dir(args.root)
    if args.check:
        fresh = render_index(load_experiments(root))
        stale = not (root / INDEX).is_file() or (root / INDEX).read_text() != fresh
        print(f"{root / INDEX}: {'stale' if stale else 'up to date'}")
        sys.exit(int(stale))
    print(f"wrote {write_index(root)}")


if __name__ == "__main__":
    main()
