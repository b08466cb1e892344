"""Benchmark: the constrained decoder's own overhead (beam search and sampling).

A synthetic catalog of 12k items with TIGER-shaped IDs (3 levels x 256 uniform random codes +
a dedup level) and a StepModel that returns pre-drawn random logits (no network cost), so the
numbers are what decoding adds on top of any network: trie queries, exclusion pruning,
log-softmax, top-k over (beam, code) pairs, bookkeeping. Reports batch-1 latency (p50 / p99)
and batch-256 throughput at 10 and 20 beams, with and without a 20-item ``exclude`` per user
(what the harness passes with ``exclude_history``), plus 10 samples per user for rollouts.
Writes the experiment benchmarks/results/decoding.md (and decoding.json).

    python benchmarks/decoding.py                  # full run (about a minute)
    python benchmarks/decoding.py --latency-runs 30 --throughput-runs 2 --no-write
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from results import Record, machine, write_experiment

from genrec.decoding import beam_search, sample
from genrec.sid.collisions import add_dedup_level
from genrec.sid.semantic_ids import SemanticIds
from genrec.training.run_dir import source_commit

N_ITEMS, HISTORY, BATCH = 12_000, 20, 256


@dataclass(frozen=True)
class RandomState:
    rows: torch.Tensor  # [N] which pool row each decoding row reads (reordered like a cache)


class RandomLogits:
    """StepModel with no network: row ``r`` always gets pool row ``r``'s logits (drawn once),
    so the measured time is the decoder's. ``reorder`` gathers a ``[N]`` tensor, the least a
    real state needs."""

    def __init__(self, vocab: int, max_rows: int, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.pool = torch.randn(max_rows, vocab, generator=gen) * 2

    def start(self, histories: torch.Tensor, beams: int) -> RandomState:
        return RandomState(torch.arange(len(histories) * beams))

    def step(
        self, state: RandomState, tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, RandomState]:
        return self.pool[: len(state.rows)], state

    def reorder(self, state: RandomState, rows: torch.Tensor) -> RandomState:
        return RandomState(state.rows[rows])


def catalog(seed: int = 0) -> SemanticIds:
    codes = add_dedup_level(np.random.default_rng(seed).integers(0, 256, (N_ITEMS, 3)))
    return SemanticIds(codes, (256, 256, 256, int(codes[:, 3].max()) + 1))


def times_ms(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


TITLE = "Constrained decoding overhead (benchmarks/decoding.py)"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run(args: argparse.Namespace) -> tuple[str, list[str], list[Record]]:
    ids = catalog()
    model = RandomLogits(ids.vocab_size, BATCH * 20)
    rng = np.random.default_rng(1)
    histories = torch.from_numpy(rng.integers(0, N_ITEMS, (BATCH, HISTORY)))
    rows = []
    header = "| decoder | beams / samples | exclude | batch-1 p50 (ms) | batch-1 p99 (ms) "
    header += "| batch-256 (ms) | users/s (batch 256) |"
    cases = [(w, ex) for w in (10, 20) for ex in (False, True)]
    for width, use_exclude in cases:

        def decode(batch: int, w: int = width, ex: bool = use_exclude) -> object:
            h = histories[:batch]
            return beam_search(model, ids, h, w, w, exclude=h if ex else None)

        rows.append(("beam search", width, use_exclude, decode))
    for use_exclude in (False, True):

        def draw(batch: int, ex: bool = use_exclude) -> object:
            h = histories[:batch]
            gen = torch.Generator().manual_seed(0)
            return sample(model, ids, h, 10, exclude=h if ex else None, generator=gen)

        rows.append(("sampling", 10, use_exclude, draw))
    table = [header, "|---|---|---|---|---|---|---|"]
    records = []
    for name, width, use_exclude, fn in rows:
        single = times_ms(lambda fn=fn: fn(1), args.latency_runs)
        full = statistics.median(times_ms(lambda fn=fn: fn(BATCH), args.throughput_runs))
        p50, p99 = percentile(single, 50), percentile(single, 99)
        excl = f"{HISTORY} items" if use_exclude else "none"
        table.append(
            f"| {name} | {width} | {excl} | {p50:.2f} | {p99:.2f} | {full:.1f} "
            f"| {BATCH / full * 1000:,.0f} |"
        )
        print(table[-1], flush=True)
        label = f"{name}, {width} {'beams' if name == 'beam search' else 'samples'}, exclude {excl}"
        data = f"synthetic, {N_ITEMS:,} items"
        head = name == "beam search" and width == 20 and not use_exclude
        records += [
            Record(data, label, "batch-1 p50 ms", p50),
            Record(data, label, "batch-1 p99 ms", p99),
            Record(data, label, f"users/s (batch {BATCH})", BATCH / full * 1000, headline=head),
        ]
    notes = [
        f"{ids.trie}; batch-1 latency over {args.latency_runs} runs after a warm-up, "
        f"batch-256 time the median of {args.throughput_runs}."
    ]
    if args.compare_threads > 1:  # why torch runs single-threaded here (see --threads)
        threads = torch.get_num_threads()
        torch.set_num_threads(args.compare_threads)
        decode = rows[2][3]  # beam search, 20 beams, no exclude
        single = statistics.median(times_ms(lambda: decode(1), 20))
        full = statistics.median(times_ms(lambda: decode(BATCH), 2))
        torch.set_num_threads(threads)
        notes.append(
            f"The same 20-beam search with {args.compare_threads} torch threads: batch-1 p50 "
            f"{single:.2f} ms, batch 256 {full:.1f} ms. torch's thread pool spin-waits for "
            f"cores other jobs hold, so the table uses {threads} thread(s) "
            "(torch.set_num_threads); library code leaves the thread count to the caller."
        )
    return "\n".join(table), notes, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--throughput-runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument(
        "--compare-threads", type=int, default=os.cpu_count() or 1, help="0: skip the comparison"
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()
    table, notes, records = run(args)
    where = machine()
    body = "\n".join(
        [
            f"### {TITLE}",
            "",
            f"{where}; commit {source_commit()}; load average at start "
            f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}: the CPU was shared with a running "
            "training benchmark, so absolute numbers are pessimistic.",
            "",
            f"Synthetic catalog: {N_ITEMS:,} items, 4-level IDs (3 x 256 random codes + dedup); "
            "a StepModel returning pre-drawn random logits (no network), so this is the "
            "decoder's own cost. k = beams; sampling draws 10 items per user.",
            "",
            table,
            "",
            *[f"- {note}" for note in notes],
        ]
    )
    print(body)
    if not args.no_write:
        write_experiment(
            "decoding",
            body,
            records,
            title=TITLE,
            script="benchmarks/decoding.py",
            commit=source_commit(),
            machine=where,
        )


if __name__ == "__main__":
    main()
