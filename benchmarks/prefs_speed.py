"""Decoding cost of preference statements: a generator trained with a `prefs:` section, its
test users decoded with their statements (the run's protocol) and without.

    python benchmarks/prefs_speed.py runs/decoder-only-prefs-instruments --users 512

Reports users/s at batch 256 and the p50 latency of one user at batch 1, each with and without
statements, after a warm-up pass that fills the statement-embedding cache (serving encodes a
request's statements once; the cache only hides the sentence encoder's cost, reported apart).
Writes the experiment benchmarks/results/prefs-speed.md (and prefs-speed.json).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from results import Record, dataset_name, machine, write_experiment

from genrec.recipes.evaluate import load_run
from genrec.training.run_dir import source_commit

TITLE = "Decoding with and without preference statements (benchmarks/prefs_speed.py)"


def decoded_in(model) -> str:
    """The precision the network decodes in (the recipe's, or float32 where the CPU has no
    bfloat16: ``genrec.training.precision``)."""
    network = getattr(model, "model", None) or model.capabilities.modules[0]
    return str(next(network.parameters()).dtype).removeprefix("torch.")


def users_per_second(model, histories: torch.Tensor, prefs, batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(histories), batch):
        rows = slice(start, start + batch)
        model.recommend(histories[rows], k=10, preferences=None if prefs is None else prefs[rows])
    return len(histories) / (time.perf_counter() - started)


def p50_ms(model, histories: torch.Tensor, prefs, users: int) -> float:
    times = []
    for row in range(users):
        started = time.perf_counter()
        model.recommend(
            histories[row : row + 1],
            k=10,
            preferences=None if prefs is None else prefs[row : row + 1],
        )
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run")
    parser.add_argument("--users", type=int, default=512)
    parser.add_argument("--single", type=int, default=64, help="users timed one at a time")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe, _, split, model = load_run(args.run)
    cases = split.test
    if cases.preferences is None:
        raise SystemExit(f"{args.run}: its test cases carry no statements (no prefs: section)")
    n = min(args.users, len(cases))
    histories = torch.as_tensor(cases.histories[:n])
    prefs = list(cases.preferences[:n])
    started = time.perf_counter()
    users_per_second(model, histories, prefs, 256)  # warm-up: encodes and caches statements
    warm = time.perf_counter() - started
    rows, records = [], []
    data = dataset_name(recipe.data.path)
    for name, given in (("without statements", None), ("with statements", prefs)):
        rate = users_per_second(model, histories, given, 256)
        latency = p50_ms(model, histories, given, min(args.single, n))
        rows.append(f"| {name} | {rate:,.0f} | {latency:.1f} |")
        model_name = f"{recipe.model}, {name}"
        records += [
            Record(data, model_name, "users/s (batch 256)", rate, headline=given is not None),
            Record(data, model_name, "p50 ms (batch 1)", latency),
        ]
    where = machine()
    text = "\n".join(
        [
            f"### {TITLE}",
            "",
            f"Machine: {where}; commit {source_commit()}; 1 thread; run `{args.run}` "
            f"({recipe.model}, protocol {recipe.prefs.protocol}, beams {recipe.decode.beams}, "
            f"{decoded_in(model)}); {n} test users, top 10.",
            "",
            "| statements | users/s (batch 256) | p50 ms (batch 1) |",
            "|---|---:|---:|",
            *rows,
            "",
            f"- Warm-up pass with statements (encodes them into the on-disk cache): {warm:.1f} s.",
        ]
    )
    print(text)
    if not args.no_write:
        write_experiment(
            "prefs-speed",
            text,
            records,
            title=TITLE,
            script="benchmarks/prefs_speed.py",
            commit=source_commit(),
            machine=where,
        )


if __name__ == "__main__":
    main()
