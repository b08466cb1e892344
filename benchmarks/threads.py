"""Benchmark: how many CPU threads genrec should use by default, on an idle and a busy machine.

Three workloads on the embedded Office dataset, each at 1 thread and at torch's default (one
per core), first with the machine as it is ("idle") and then with one CPU-spinning process per
core started beside them ("busy", a laptop that also compiles, renders or runs a second job):

- RQ-VAE fit: ``RQVAE(epochs=E).fit`` on the Office item text embeddings (2,420 x 384; the
  cached ones when ``genrec ids build office`` ran before, else encoded once, untimed);
- SASRec training: optimizer steps of the default SASRec on Office's training examples
  (batch 256, AdamW, gradient clipping as in the training loop), examples/s;
- decoding: a randomly initialised decoder-only model of configs/decoder-only-office.yaml's
  size on random 3 x 256 IDs (+ dedup level) for 2,420 items, constrained beam search with
  20 beams over batches of Office test histories, users/s.

Each number is the best of ``--repeats`` runs (the machine may be shared), with the 1-minute
load average (os.getloadavg) read just before. Spinners stop by themselves after 10 minutes
even if this script dies. Writes the experiment benchmarks/results/threads.md (and .json).

    python benchmarks/threads.py                 # about 5 minutes on 2 busy cores
    python benchmarks/threads.py --repeats 1 --rqvae-epochs 2 --sasrec-steps 2 \
        --decode-users 8 --no-write             # smoke test
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from results import Record, machine, write_experiment
from torch import nn

from genrec.data.prepare import DataConfig, load_dataset, make_split
from genrec.models.decoder_only import DecoderOnly, DecoderOnlyConfig
from genrec.models.sasrec import SASRec, SASRecConfig
from genrec.recipes.evaluate import training_examples
from genrec.recommend.generative import GenerativeRecommender
from genrec.sid.collisions import add_dedup_level
from genrec.sid.rqvae import RQVAE, RQVAEConfig
from genrec.sid.semantic_ids import SemanticIds
from genrec.text.cache import item_embeddings
from genrec.text.encoder import EncoderConfig
from genrec.text.template import ItemTemplate
from genrec.threads import apply_threads, available_cores, default_threads
from genrec.training.run_dir import source_commit

OFFICE = DataConfig(format="embedded", path="office")
SEED, BATCH, BEAMS, LR, GRAD_CLIP = 0, 256, 20, 1e-3, 1.0
DECODER_ONLY = DecoderOnlyConfig(hidden=128, layers=4, heads=4, ff_dim=512)
SPIN_SECONDS = 600  # a spinner's own deadline, so none outlives a crashed benchmark
TORCH_DEFAULT = torch.get_num_threads()  # before anything here changes it


@dataclass(frozen=True)
class Measure:
    workload: str
    unit: str
    machine_state: str  # "idle" or "busy"
    threads: int
    value: float  # seconds (lower is better) or a rate (higher is better)
    load: float  # 1-minute load average just before the best run


@contextmanager
def spinners(n: int) -> Iterator[None]:
    """``n`` processes that keep a core busy each, stopped on exit."""
    code = f"import time\nend = time.time() + {SPIN_SECONDS}\nwhile time.time() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]
    try:
        time.sleep(1)  # let them start spinning
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def rqvae_fit(embeddings: np.ndarray, epochs: int) -> Callable[[], float]:
    """Seconds of one RQ-VAE fit (TIGER's defaults, ``epochs`` epochs)."""
    config = RQVAEConfig(epochs=epochs, device="cpu", progress=False)

    def run() -> float:
        start = time.perf_counter()
        RQVAE(config).fit(embeddings)
        return time.perf_counter() - start

    return run


def sasrec_steps(split, steps: int) -> Callable[[], float]:  # noqa: ANN001 (a Split)
    """Examples/s over ``steps`` training steps of the default SASRec (after one warm-up)."""
    torch.manual_seed(SEED)
    model = SASRec(split.n_items, split.max_history, SASRecConfig())
    examples = training_examples(model, split)
    n = len(next(iter(examples.values())))
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(SEED)

    def step() -> None:
        rows = torch.randint(n, (BATCH,), generator=generator)
        loss = model({key: value[rows] for key, value in examples.items()})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()

    def run() -> float:
        model.train()
        step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return steps * BATCH / (time.perf_counter() - start)

    return run


def decoding(split, users: int) -> Callable[[], float]:  # noqa: ANN001 (a Split)
    """Users/s of constrained beam search over ``users`` Office test histories."""
    rng = np.random.default_rng(SEED)
    codes = add_dedup_level(rng.integers(0, 256, (split.n_items, 3)))
    ids = SemanticIds(codes, (256, 256, 256, int(codes[:, 3].max()) + 1))
    torch.manual_seed(SEED)
    model = DecoderOnly(ids, DECODER_ONLY).eval()
    recommender = GenerativeRecommender(model, ids, BEAMS, token_offset=model.token_offset)
    rows = rng.choice(len(split.test), users, replace=False)
    histories = torch.from_numpy(split.test.histories[rows])

    def run() -> float:
        with torch.inference_mode():
            recommender.recommend(histories[:2], BEAMS)  # warm-up
            start = time.perf_counter()
            recommender.recommend(histories, BEAMS)
            return users / (time.perf_counter() - start)

    return run


TITLE = "CPU threads: idle vs busy machine (benchmarks/threads.py)"


def measure(
    name: str, unit: str, run: Callable[[], float], state: str, threads: int, repeats: int
) -> Measure:
    apply_threads(threads)
    higher_is_better = unit != "s"
    best: tuple[float, float] | None = None
    for _ in range(repeats):
        load = os.getloadavg()[0]
        value = run()
        if best is None or (value > best[0]) == higher_is_better:
            best = (value, load)
    assert best is not None
    row = Measure(name, unit, state, threads, *best)
    print(f"  {row}", flush=True)
    return row


def report(rows: list[Measure], args: argparse.Namespace) -> str:
    by_key = {(r.workload, r.machine_state, r.threads): r for r in rows}
    workloads = list(dict.fromkeys(r.workload for r in rows))
    spin = available_cores()
    header = (
        f"| workload | idle, 1 thread | idle, {TORCH_DEFAULT} threads | busy ({spin} spinners), "
        f"1 thread | busy, {TORCH_DEFAULT} threads | 1 thread vs {TORCH_DEFAULT}: idle | busy |"
    )
    lines = [header, "|---|---|---|---|---|---|---|"]
    wins = 0
    for name in workloads:
        cells, ratios = [], []
        for state in ("idle", "busy"):
            one, many = by_key[(name, state, 1)], by_key[(name, state, TORCH_DEFAULT)]
            cells += [cell(one), cell(many)]
            speedup = many.value / one.value if one.unit == "s" else one.value / many.value
            ratios.append(f"{speedup:.2f}x")
            wins += speedup > 1
        unit = "s" if by_key[(name, "idle", 1)].unit == "s" else by_key[(name, "idle", 1)].unit
        lines.append(f"| {name} ({unit}) | " + " | ".join(cells + ratios) + " |")
    notes = [
        f"1 thread beat {TORCH_DEFAULT} in {wins} of {2 * len(workloads)} comparisons.",
        "Cells: the best of "
        f"{args.repeats} run(s), with the 1-minute load average read just before it in "
        "brackets. Last two columns: how many times faster 1 thread is than torch's default "
        f"({TORCH_DEFAULT} threads here, one per core); above 1 means 1 thread wins.",
        f"busy: {spin} CPU-spinning processes (one per core) beside the benchmark. "
        "idle: the machine as it was, nothing added; the load averages say how quiet it was.",
        f"Workloads: RQ-VAE fit of {args.rqvae_epochs} epochs on Office's 2,420 item text "
        f"embeddings; {args.sasrec_steps} SASRec training steps of batch {BATCH} (examples/s); "
        f"decoder-only ({DECODER_ONLY.hidden} wide, {DECODER_ONLY.layers} layers, random "
        f"weights, 3 x 256 IDs + dedup) decoding {args.decode_users} Office test users at "
        f"{BEAMS} beams (users/s).",
        f"genrec's default (genrec.threads.default_threads): half of the cores, 1 to 4: "
        f"{default_threads()} thread(s) on this machine. Commit {source_commit()}.",
    ]
    return "\n".join(
        [
            f"### {TITLE}",
            "",
            f"Machine: {machine()}",
            "",
            *lines,
            "",
            *(f"- {note}" for note in notes),
        ]
    )


def records(rows: list[Measure]) -> list[Record]:
    """One record per measurement (workload, machine state, threads)."""
    return [
        Record(
            "office",
            f"{r.workload}, {r.threads} thread{'s' * (r.threads > 1)}",
            r.unit,
            r.value,
            protocol=f"{r.machine_state} machine (load {r.load:.1f})",
        )
        for r in rows
    ]


def cell(row: Measure) -> str:
    value = f"{row.value:.2f}" if row.unit == "s" else f"{row.value:,.0f}"
    return f"{value} [{row.load:.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rqvae-epochs", type=int, default=3)
    parser.add_argument("--sasrec-steps", type=int, default=8)
    parser.add_argument("--decode-users", type=int, default=24)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    apply_threads(1)  # the untimed preparation
    dataset = load_dataset(OFFICE)
    split = make_split(dataset, OFFICE)
    embeddings = item_embeddings(dataset, ItemTemplate(), EncoderConfig(), progress=False)
    workloads = [
        ("RQ-VAE fit", "s", rqvae_fit(embeddings, args.rqvae_epochs)),
        ("SASRec training", "examples/s", sasrec_steps(split, args.sasrec_steps)),
        ("decoding", "users/s", decoding(split, args.decode_users)),
    ]
    rows = []
    for state, n_spinners in (("idle", 0), ("busy", available_cores())):
        print(f"{state}:", flush=True)
        with spinners(n_spinners):
            for name, unit, run in workloads:
                for threads in (1, TORCH_DEFAULT):
                    rows.append(measure(name, unit, run, state, threads, args.repeats))
    text = report(rows, args)
    print(text)
    if not args.no_write:
        write_experiment(
            "threads",
            text,
            records(rows),
            title=TITLE,
            script="benchmarks/threads.py",
            commit=source_commit(),
            machine=machine(),
        )


if __name__ == "__main__":
    main()
