"""bfloat16 against float32 on this CPU: one matrix product, and a finished generator run's
decoding of a batch of test users, each timed in both precisions (bfloat16 forced even where
genrec would fall back to float32, ``genrec.training.precision``), to show why it falls back.

    python benchmarks/precision.py runs/decoder-only-office-serve --name precision-cpu

Run from the repository root (run paths are relative to it). Prints the CPU's bfloat16
capabilities and writes benchmarks/results/<name>.md and .json.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from pathlib import Path

import torch
from results import Record, machine, write_experiment

from genrec.recipes.recommend import RunRecommender
from genrec.recommend.generative import GenerativeRecommender
from genrec.training.run_dir import source_commit

TITLE = "bfloat16 against float32 on this CPU (benchmarks/precision.py)"


def seconds(work: Callable[[], object], at_least: float = 3.0) -> float:
    """Mean seconds of ``work()`` over repeats filling ``at_least`` seconds (after one warm-up)."""
    work()
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < at_least:
        work()
        n += 1
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished generator run")
    parser.add_argument("--name", required=True)
    parser.add_argument("--users", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    capabilities = torch.cpu.get_capabilities()
    native = {k: capabilities.get(k) for k in ("avx2", "avx512_f", "avx512_bf16", "amx_bf16")}
    records, lines = [], []
    a, b = torch.randn(4096, 128), torch.randn(128, 512)
    run = RunRecommender([args.run])
    recommender = run.model
    assert isinstance(recommender, GenerativeRecommender), "a generator run is needed"
    histories = torch.as_tensor(run.split.test.histories[: args.users])
    base = recommender.model  # float32 on a CPU without bfloat16 (genrec's fallback)
    for dtype in (torch.float32, torch.bfloat16):
        x, y = a.to(dtype), b.to(dtype)
        product = seconds(lambda x=x, y=y: x @ y) * 1000
        recommender.model = copy.deepcopy(base).to(dtype)  # forced, even where it is emulated
        with torch.inference_mode():
            decode = seconds(lambda: recommender.recommend(histories, 10)) * 1000
        name = str(dtype).removeprefix("torch.")
        rate = args.users / decode * 1000
        lines.append(f"| {name} | {product:.1f} | {decode:.0f} | {rate:.0f} |")
        for metric, value in (("matmul ms", product), (f"decode ms (batch {args.users})", decode)):
            headline = metric.startswith("decode") and dtype == torch.bfloat16
            records.append(
                Record("office", name, metric, round(value, 2), "1 thread", headline=headline)
            )
    markdown = "\n".join(
        [
            f"CPU capabilities: {native}. Run `{args.run}`, {args.users} test users, top 10, "
            "one thread.",
            "",
            "| precision | 4096x128 @ 128x512 ms | decode ms | users/s |",
            "|---|---:|---:|---:|",
            *lines,
        ]
    )
    path = write_experiment(
        args.name, markdown, records, title=TITLE, script="benchmarks/precision.py",
        commit=source_commit(), machine=machine(),
    )  # fmt: skip
    print(path.read_text())


if __name__ == "__main__":
    main()
