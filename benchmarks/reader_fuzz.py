"""Benchmark: the long fuzz campaign over every dataset reader (docs/data.md).

Feeds each reader malformed variants of its small valid fixture (tests/fixtures/raw; the edits
are those of tests/data/sources/malformed.py: truncation, bad bytes, wrong JSON types, missing
and extra fields, empty and deleted files) and counts, per reader, the files generated, those
read as a Dataset, those rejected with a GenrecError that names the file ("located"), those
rejected without naming it, and uncaught exceptions (the target is 0). The test suite runs a
fast, fixed slice of the same property (tests/data/sources/test_malformed.py). Writes the
experiment benchmarks/results/reader-fuzz.md (and reader-fuzz.json).

    python benchmarks/reader_fuzz.py                     # 200 variants per reader, seed 0
    python benchmarks/reader_fuzz.py --per-reader 20 --readers tabular --no-write
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from results import Record, machine, write_experiment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package
from genrec.training.run_dir import source_commit  # noqa: E402
from tests.data.sources.malformed import CASES, apply, outcome, variants  # noqa: E402

TITLE = "Reader fuzzing: malformed raw files (`benchmarks/reader_fuzz.py`)"


def campaign(fmt: str, examples: int, seed_value: int) -> tuple[Counter[str], list[str]]:
    """Outcome counts over ``examples`` variants of ``fmt``, and each uncaught exception."""
    counts: Counter[str] = Counter()
    crashes: list[str] = []

    @seed(seed_value)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        edits = data.draw(variants(fmt))
        counts["files"] += 1
        with tempfile.TemporaryDirectory() as tmp:
            folder = apply(fmt, edits, Path(tmp) / fmt)
            try:
                counts[outcome(fmt, folder)] += 1
            except Exception as exc:  # noqa: BLE001 (the campaign counts them)
                counts["uncaught"] += 1
                where = traceback.extract_tb(exc.__traceback__)[-1]
                edit_names = [(name, what) for name, what, _ in edits]
                crashes.append(
                    f"{fmt}: {type(exc).__name__}: {str(exc)[:160]} at {where.filename}:"
                    f"{where.lineno} after {edit_names}"
                )

    run()
    return counts, crashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-reader", type=int, default=200, help="variants per reader")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--readers", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--no-write", action="store_true", help="print, write no results")
    args = parser.parse_args()

    start = time.perf_counter()
    rows, crashes, records = [], [], []
    total: Counter[str] = Counter()
    for fmt in args.readers:
        counts, found = campaign(fmt, args.per_reader, args.seed)
        total.update(counts)
        crashes += found
        records += [
            Record(f"{fmt} fixture variants", f"{fmt} reader", kind, counts[kind])
            for kind in ("files", "accepted", "located", "unlocated", "uncaught")
        ]
        rows.append(
            f"| {fmt} | {counts['files']} | {counts['accepted']} | {counts['located']} | "
            f"{counts['unlocated']} | {counts['uncaught']} |"
        )
        print(rows[-1], flush=True)
    seconds = time.perf_counter() - start
    rows.append(
        f"| **all** | {total['files']} | {total['accepted']} | {total['located']} | "
        f"{total['unlocated']} | {total['uncaught']} |"
    )
    records.append(
        Record(
            "every reader's fixture variants",
            "all readers",
            "uncaught",
            total["uncaught"],
            headline=True,
        )
    )
    for crash in crashes:
        print(crash)
    where = machine()
    body = "\n".join(
        [
            f"## {TITLE}",
            "",
            f"Machine: {where}; commit {source_commit()}; hypothesis seed {args.seed}, "
            f"{args.per_reader} variants per reader, {seconds:.0f} s. Other jobs were sharing "
            "the 2 cores, so the time is only indicative.",
            "",
            "Each variant is a reader's fixture (tests/fixtures/raw) with 1-3 edits: "
            "truncation (text or gzip stream), bad bytes, emptied or deleted files, dropped / "
            "repeated / swapped lines, replaced / dropped / added fields, JSON nodes of the "
            "wrong type, missing and extra keys. *located*: a GenrecError that names the file; "
            "*uncaught*: any other exception (target 0).",
            "",
            "| reader | files | accepted | located errors | unlocated errors | uncaught |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(body)
    if not args.no_write:
        write_experiment(
            "reader-fuzz",
            body,
            records,
            title=TITLE,
            script="benchmarks/reader_fuzz.py",
            commit=source_commit(),
            machine=where,
        )


if __name__ == "__main__":
    main()
