"""Benchmark: generative recommenders on CPU: decoding speed, catalog scaling, training speed.

Untrained, randomly initialised (seeded) networks throughout: the tensor shapes and the work of
decoding and training do not depend on the weights. Three parts:

1. Decoding on a synthetic Beauty-sized catalog (12,101 items, 3 x 256 uniform random codes + a
   dedup level) with real Beauty test histories (or, --histories full, 20 random items per
   user), through ``GenerativeRecommender`` (what the harness and the service call): the
   decoder-only generator at the size of configs/decoder-only-beauty.yaml, TIGER's small
   default, and SASRec scoring the full catalog as the baseline. Batch-1 latency (p50 / p99)
   and batch-256 throughput at 10 and 20 beams. Targets: p50 <= 20 ms for one user at 20
   beams; >= 1,000 users/s at batch 256.
2. Catalog scaling, 10k / 100k / 1M synthetic items: trie build time and memory, and the
   decoder-only model's batch-1 latency at 20 beams. Targets at 1M: build < 10 s, trie
   < 500 MB, latency < 2x that at 10k.
3. Training throughput of decoder-only and TIGER (AdamW, batch 256, gradient clipping as in
   the training loop) on the real Beauty training examples when ../shared/data holds them.

Writes the experiment benchmarks/results/generative-speed.md (and generative-speed.json).

    python benchmarks/generative_speed.py          # full run (a few minutes on a quiet core)
    python benchmarks/generative_speed.py --latency-runs 3 --throughput-runs 1 --sizes 10000 \
        --train-steps 1 --no-write                 # smoke test
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from results import Record, machine, write_experiment
from torch import nn

from genrec.data.prepare import DataConfig, load_dataset, make_split
from genrec.data.windows import PAD
from genrec.models.decoder_only import DecoderOnly, DecoderOnlyConfig, decoder_only_examples
from genrec.models.sasrec import SASRec, SASRecConfig
from genrec.models.tiger import Tiger, TigerConfig, tiger_examples
from genrec.recipes.loop import epoch_batches
from genrec.recommend.generative import GenerativeRecommender
from genrec.sid.collisions import add_dedup_level
from genrec.sid.semantic_ids import SemanticIds
from genrec.training.run_dir import source_commit

ROOT = Path(__file__).resolve().parents[1]
BEAUTY = ROOT.parent / "shared" / "data" / "amazon2014-beauty"
N_ITEMS, HISTORY, SEED = 12_101, 20, 0  # Beauty's catalog; the protocol's history length
BEAM_WIDTHS, SASREC_K = (10, 20), 20
PRECISIONS = ("float32", "bfloat16")  # decode.precision
TRAIN_PRECISIONS = ("no", "bf16")  # train.mixed_precision
TARGET_P50_MS, TARGET_USERS_PER_S = 20.0, 1_000.0
TITLE = (
    "Generative recommenders on CPU: decoding, catalog scaling, training "
    "(benchmarks/generative_speed.py)"
)
BUILD_RUNS, LATENCY_WARMUP = 3, 3
MAX_ROWS = 4096  # GenerativeRecommender's default chunk (users x beams rows)
LR, GRAD_CLIP = 1e-3, 1.0  # the training loop's defaults (configs/decoder-only-beauty.yaml)

DECODER_ONLY = DecoderOnlyConfig(hidden=128, layers=4, heads=4, ff_dim=512)
SASREC = SASRecConfig(hidden=64, layers=2, heads=2)

HISTORY_NOTES = {
    "beauty": "Decoding histories: the test histories (up to 20 items, real lengths) of "
    "randomly drawn Beauty users.",
    "full": f"Decoding histories: {HISTORY} random items per user, the longest the protocol "
    "keeps (the worst case; Beauty users have about 9 interactions).",
}

Recommend = Callable[[torch.Tensor], object]  # histories [B, L] -> top-k lists


# --- shared helpers -----------------------------------------------------------------------


def catalog(n_items: int, seed: int = SEED) -> SemanticIds:
    """``n_items`` TIGER-shaped IDs: 3 x 256 uniform random codes plus the dedup level."""
    codes = add_dedup_level(np.random.default_rng(seed).integers(0, 256, (n_items, 3)))
    return SemanticIds(codes, (256, 256, 256, int(codes[:, 3].max()) + 1))


def unique_catalog(n_items: int, seed: int = SEED) -> SemanticIds:
    """``n_items`` distinct 3 x 256 random IDs: the shape ``dedup=reassign`` gives (no extra
    token: one decoding step and a quarter of the history tokens fewer)."""
    keys = np.random.default_rng(seed).choice(256**3, n_items, replace=False)
    return SemanticIds(np.stack([keys // 65536, keys // 256 % 256, keys % 256], 1), (256,) * 3)


def random_histories(n_users: int, n_items: int, seed: int = SEED + 1) -> torch.Tensor:
    """``[n_users, 20]`` random item indices (full histories, no padding)."""
    return torch.from_numpy(np.random.default_rng(seed).integers(0, n_items, (n_users, HISTORY)))


def beauty_histories(n_users: int, seed: int = SEED + 1) -> torch.Tensor:
    """``[n_users, 20]`` test histories of random Beauty users (left-padded: real lengths)."""
    config = DataConfig(format="p5", path=str(BEAUTY))
    test = make_split(load_dataset(config), config).test
    rows = np.random.default_rng(seed).choice(len(test), n_users, replace=False)
    return torch.from_numpy(test.histories[rows])


def seeded(build: Callable[[], nn.Module]) -> nn.Module:
    """A freshly initialised network, the same for the same code (seeded), in eval mode."""
    torch.manual_seed(SEED)
    return build().eval()


def generative(
    model: nn.Module, ids: SemanticIds, beams: int, dtype: torch.dtype = torch.float32
) -> Recommend:
    """Top-``beams`` lists by constrained beam search, as the harness asks for them."""
    recommender = GenerativeRecommender(
        model, ids, beams, token_offset=model.token_offset, max_rows=MAX_ROWS, dtype=dtype
    )
    return lambda histories: recommender.recommend(histories, beams)


def times_ms(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def latencies_ms(recommend: Recommend, histories: torch.Tensor, runs: int) -> list[float]:
    """Batch-1 times, one user after another from ``histories``."""
    users = itertools.cycle(histories.split(1))

    def one() -> object:
        return recommend(next(users))

    with torch.inference_mode():
        return times_ms(one, runs, LATENCY_WARMUP)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


# --- part 1: decoding latency and throughput ----------------------------------------------


@dataclass(frozen=True)
class Speed:
    model: str
    tokens: int | None  # ID tokens per item; None: SASRec (no IDs)
    precision: str  # the network's dtype while decoding
    beams: int | None  # None: full-catalog scoring
    k: int
    p50_ms: float
    p99_ms: float
    users_per_s: float


def speed(
    name: str,
    tokens: int | None,
    precision: str,
    beams: int | None,
    k: int,
    recommend: Recommend,
    args: argparse.Namespace,
) -> Speed:
    histories = (
        beauty_histories(args.batch)
        if args.histories == "beauty"
        else random_histories(args.batch, N_ITEMS)
    )
    single = latencies_ms(recommend, histories, args.latency_runs)
    with torch.inference_mode():
        batch = times_ms(lambda: recommend(histories), args.throughput_runs, warmup=1)
    users_per_s = args.batch / statistics.median(batch) * 1000
    row = Speed(
        name,
        tokens,
        precision,
        beams,
        k,
        percentile(single, 50),
        percentile(single, 99),
        users_per_s,
    )
    print(f"  {row}", flush=True)
    return row


def decoding_rows(args: argparse.Namespace) -> list[Speed]:
    sasrec = seeded(lambda: SASRec(N_ITEMS, HISTORY, SASREC))
    recommend = functools.partial(sasrec.recommend, k=SASREC_K)
    rows = [speed("sasrec", None, "float32", None, SASREC_K, recommend, args)]
    models: dict[str, Callable[[SemanticIds], nn.Module]] = {
        "decoder-only": lambda ids: DecoderOnly(ids, DECODER_ONLY),
        "tiger": lambda ids: Tiger(ids, TigerConfig()),
    }
    # Every beam width with TIGER's IDs (3 codes + dedup); the widest with reassigned 3-code IDs.
    catalogs = [(catalog(N_ITEMS), BEAM_WIDTHS), (unique_catalog(N_ITEMS), (max(BEAM_WIDTHS),))]
    for name, build in models.items():
        for ids, widths in catalogs:
            model = seeded(functools.partial(build, ids))
            for precision, beams in itertools.product(PRECISIONS, widths):
                recommend = generative(model, ids, beams, getattr(torch, precision))
                rows.append(speed(name, ids.n_levels, precision, beams, beams, recommend, args))
    return rows


def decoding_section(rows: list[Speed], args: argparse.Namespace) -> list[str]:
    base = rows[0]
    header = (
        "| model | ID tokens | precision | beams | k | batch-1 p50 (ms) | batch-1 p99 (ms) | "
        f"users/s (batch {args.batch}) | p50 / SASRec's | users/s / SASRec's |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        beams = "full scoring" if r.beams is None else str(r.beams)
        lines.append(
            f"| {r.model} | {'-' if r.tokens is None else r.tokens} | {r.precision} | {beams} "
            f"| {r.k} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.users_per_s:,.0f} | {r.p50_ms / base.p50_ms:.1f}x | "
            f"{r.users_per_s / base.users_per_s:.3f}x |"
        )
    targets = []
    for r in rows:
        if r.beams == max(BEAM_WIDTHS):
            targets.append(
                f"{r.model} ({r.tokens} ID tokens, {r.precision}): p50 {r.p50_ms:.1f} ms "
                f"(<= {TARGET_P50_MS:.0f} ms: {verdict(r.p50_ms <= TARGET_P50_MS)}), "
                f"{r.users_per_s:,.0f} users/s "
                f"(>= {TARGET_USERS_PER_S:,.0f}: {verdict(r.users_per_s >= TARGET_USERS_PER_S)})"
            )
    wide = max(BEAM_WIDTHS)
    chunks = -(-args.batch // (MAX_ROWS // wide))  # ceil
    notes = [
        f"Targets at {wide} beams (p50 for one user; users/s at batch {args.batch}): "
        + "; ".join(targets)
        + ".",
        f"Batch-1 latency over {args.latency_runs} runs (a different user each run) after "
        f"{LATENCY_WARMUP} warm-up runs; batch-{args.batch} time the median of "
        f"{args.throughput_runs} after one warm-up. All under torch.inference_mode() in eval "
        "mode. Ratios are each row's over SASRec's (p50: how many times slower; users/s: the "
        "fraction of SASRec's throughput).",
        "ID tokens: 4 = 3 random codes of 256 + TIGER's dedup token (the recipes' IDs); 3 = "
        "distinct 3-code IDs, the shape `dedup=reassign` gives (one decoding step and a quarter "
        "of the history tokens fewer). Same network sizes either way.",
        "bfloat16 rows decode with a bfloat16 copy of the same network (decode.precision; beam "
        f"scores still summed in float32). CPU bfloat16 support: {bf16_flags()}.",
        f"GenerativeRecommender decodes at most {MAX_ROWS:,} users x beams rows per chunk (its "
        f"default), so batch {args.batch} at {wide} beams runs as {chunks} chunk(s); SASRec "
        f"scores all {N_ITEMS:,} items per user and takes the top {SASREC_K}.",
    ]
    return lines + [""] + [f"- {note}" for note in notes]


def bf16_flags() -> str:
    """The CPU's bfloat16 instruction flags (Linux), which decide what bfloat16 decoding gains."""
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    found = sorted(words & {"avx512_bf16", "amx_bf16", "amx_tile"})
    return ", ".join(found) if found else "none (bfloat16 is emulated and may be slower)"


# --- part 2: catalog scaling --------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    n_items: int
    dedup_codes: int
    vocab: int
    build_s: float
    trie_mb: float
    p50_ms: float


def scale_row(n_items: int, args: argparse.Namespace) -> Scale:
    ids = catalog(n_items)
    builds = []
    for _ in range(BUILD_RUNS):
        fresh = SemanticIds(ids.codes, ids.codebook_sizes)  # trie not built yet
        start = time.perf_counter()
        trie = fresh.trie
        builds.append(time.perf_counter() - start)
    model = seeded(lambda: DecoderOnly(ids, DECODER_ONLY))
    recommend = generative(model, ids, max(BEAM_WIDTHS))
    times = latencies_ms(recommend, random_histories(64, n_items), args.scaling_runs)
    row = Scale(
        n_items,
        ids.codebook_sizes[-1],
        model.vocab_size,
        statistics.median(builds),
        trie.nbytes / 2**20,
        percentile(times, 50),
    )
    print(f"  {row}", flush=True)
    return row


def scaling_section(rows: list[Scale], args: argparse.Namespace) -> list[str]:
    small, big = rows[0], rows[-1]
    lines = [
        f"| items | dedup codes | model vocab | trie build (s) | trie MB | "
        f"p50, {max(BEAM_WIDTHS)} beams (ms) | p50 / {small.n_items:,}'s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.n_items:,} | {r.dedup_codes} | {r.vocab:,} | {r.build_s:.3f} | "
            f"{r.trie_mb:.1f} | {r.p50_ms:.2f} | {r.p50_ms / small.p50_ms:.2f}x |"
        )
    where = "" if big.n_items == 1_000_000 else f" (this run's largest catalog is {big.n_items:,})"
    ratio = big.p50_ms / small.p50_ms
    notes = [
        f"Targets at 1,000,000 items{where}: build {big.build_s:.3f} s (< 10 s: "
        f"{verdict(big.build_s < 10)}); trie {big.trie_mb:.0f} MB (< 500 MB: "
        f"{verdict(big.trie_mb < 500)}); latency {ratio:.2f}x that at {small.n_items:,} "
        f"(< 2x: {verdict(ratio < 2)}).",
        f"Build: the median of {BUILD_RUNS} first accesses of SemanticIds.trie on a fresh object; "
        "memory: PrefixTrie.nbytes (its tensors). Latency: the decoder-only model above built "
        f"for each catalog (the vocabulary grows only by the dedup level), batch 1, "
        f"{args.scaling_runs} runs after {LATENCY_WARMUP} warm-ups.",
    ]
    return lines + [""] + [f"- {note}" for note in notes]


# --- part 3: training throughput ----------------------------------------------------------


@dataclass(frozen=True)
class Training:
    model: str
    precision: str  # train.mixed_precision: "no" (float32) or "bf16"
    examples: int  # per epoch
    bucketed: bool  # batches of similar length (the examples carry "lengths")
    per_s: float  # examples/s over the timed steps
    adjusted_epoch_s: float  # the timed steps scaled by the epoch's padded item slots
    timed_items: float  # mean real items per example in the timed batches
    epoch_items: float  # ... over the whole epoch


@dataclass(frozen=True)
class Batching:
    """One epoch's batches as the training loop draws them, and what they cost."""

    batches: list[torch.Tensor]
    lengths: torch.Tensor  # [N] real items per example
    bucketed: bool

    def slots(self, rows: torch.Tensor) -> int:
        """Item slots a batch computes: cut to its longest example when bucketed (the models
        that give lengths trim the padding common to a batch), else all ``HISTORY``."""
        width = int(self.lengths[rows].max()) if self.bucketed else HISTORY
        return len(rows) * width


def loop_batches(examples: dict[str, torch.Tensor], size: int, items: torch.Tensor) -> Batching:
    """``epoch_batches`` as the loop calls it (``train.bucket_by_length``, the default):
    similar lengths together when the examples carry ``lengths``, else plain random batches.
    ``items [N]``: real items per example, for the report."""
    lengths = examples.get("lengths")
    generator = torch.Generator().manual_seed(0)
    batches = epoch_batches(len(items), size, generator, lengths)
    return Batching(batches, items if lengths is None else lengths, lengths is not None)


def train_speed(
    name: str,
    model: nn.Module,
    examples: dict[str, torch.Tensor],
    plan: Batching,
    steps: int,
    precision: str,
) -> Training:
    """Examples/s over ``steps`` optimizer steps on ``plan.batches[1:]`` (the first batch
    warms up). The length-adjusted epoch assumes a step costs in proportion to its slots.
    ``precision`` "bf16" runs the forward pass under bfloat16 autocast, as accelerate does on
    a CPU for ``train.mixed_precision=bf16`` (weights and optimizer stay float32)."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    autocast = functools.partial(torch.autocast, "cpu", torch.bfloat16, precision == "bf16")

    def step(rows: torch.Tensor) -> None:
        with autocast():
            loss = model({key: value[rows] for key, value in examples.items()})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        loss.item()

    step(plan.batches[0])
    timed = plan.batches[1 : 1 + steps]
    start = time.perf_counter()
    for rows in timed:
        step(rows)
    elapsed = time.perf_counter() - start
    seen = torch.cat(timed)
    epoch_slots = sum(plan.slots(b) for b in plan.batches)
    row = Training(
        name,
        precision,
        len(plan.lengths),
        plan.bucketed,
        len(seen) / elapsed,
        elapsed * epoch_slots / sum(plan.slots(b) for b in timed),
        plan.lengths[seen].float().mean().item(),
        plan.lengths.float().mean().item(),
    )
    print(f"  {row}", flush=True)
    return row


def training_rows(args: argparse.Namespace) -> list[Training]:
    config = DataConfig(format="p5", path=str(BEAUTY))
    split = make_split(load_dataset(config), config)
    ids = catalog(split.n_items)
    size, steps = args.train_batch, args.train_steps

    windows = decoder_only_examples(split.train, HISTORY)
    pairs = tiger_examples(split.train, ids, HISTORY)
    families = [
        ("decoder-only", lambda: DecoderOnly(ids, DECODER_ONLY), windows, windows["windows"]),
        ("tiger", lambda: Tiger(ids, TigerConfig()), pairs, pairs["histories"]),
    ]
    rows = []
    for name, build, examples, items in families:
        plan = loop_batches(examples, size, (items != PAD).sum(1))
        for precision in TRAIN_PRECISIONS:
            model = seeded(build)
            rows.append(train_speed(name, model, examples, plan, steps, precision))
    return rows


def training_section(rows: list[Training], args: argparse.Namespace) -> list[str]:
    lines = [
        "| model | mixed precision | examples / epoch | batches | examples/s | implied epoch "
        "(min) | length-adjusted epoch (min) | real items per example: timed batches / epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        batches = "by length" if r.bucketed else "random"
        lines.append(
            f"| {r.model} | {r.precision} | {r.examples:,} | {batches} | {r.per_s:,.0f} | "
            f"{r.examples / r.per_s / 60:.1f} | {r.adjusted_epoch_s / 60:.1f} | "
            f"{r.timed_items:.1f} / {r.epoch_items:.1f} |"
        )
    notes = [
        f"Real Beauty training examples (P5 split): decoder-only windows of up to "
        f"{HISTORY + 1} items (decoder_only_examples; every transition of a window is learned "
        f"in one pass), TIGER (history, target) pairs (tiger_examples). AdamW (lr {LR}), "
        f"gradient clipping at {GRAD_CLIP}, batch {args.train_batch}, {args.train_steps} timed "
        "step(s) after one warm-up step, dropout on; plain torch, as the loop runs on a CPU; "
        "mixed precision bf16 runs the forward pass under torch.autocast(bfloat16), what "
        "accelerate does for train.mixed_precision=bf16 on a CPU (float32 weights and "
        "optimizer). Validation decoding, which the loop runs after every epoch, is not "
        "included.",
        "Batches are the first ones epoch_batches returns, as the loop draws them: by length "
        "(similar lengths together) for examples that carry lengths, whose models trim the "
        "padding common to a batch, so a step's cost follows the longest example in it; else "
        f"random, every example {HISTORY} item slots. Implied epoch = examples / (examples/s); "
        "the length-adjusted epoch scales the timed steps by the epoch's padded item slots "
        "(batch size x longest example, summed over all batches), assuming a cost proportional "
        "to them: it corrects for a few timed batches being shorter or longer than the epoch's.",
        f"The IDs are the synthetic catalog's ({N_ITEMS:,} items, as many as Beauty's), which "
        "shapes the work as real IDs would.",
    ]
    return lines + [""] + [f"- {note}" for note in notes]


# --- the section --------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[list[str], list[Record]]:
    print("decoding", flush=True)
    speeds = decoding_rows(args)
    decoding = decoding_section(speeds, args)
    print("catalog scaling", flush=True)
    scales = [scale_row(n, args) for n in sorted(args.sizes)]
    scaling = scaling_section(scales, args)
    trainings = []
    if BEAUTY.is_dir():
        print("training", flush=True)
        trainings = training_rows(args)
        training = training_section(trainings, args)
    else:
        training = [f"Skipped: {BEAUTY} is not on this machine."]
    parts = [
        f"#### Decoding, synthetic {N_ITEMS:,}-item catalog",
        "",
        *decoding,
        "",
        "#### Catalog scaling (decoder-only)",
        "",
        *scaling,
        "",
        "#### Training throughput, Amazon 2014 Beauty",
        "",
        *training,
    ]
    return parts, records(speeds, scales, trainings, args)


def records(
    speeds: list[Speed], scales: list[Scale], trainings: list[Training], args: argparse.Namespace
) -> list[Record]:
    """Every row's numbers; the headline: users/s at the widest beam, bfloat16, 3 ID tokens
    (the fast recipes' shape) and SASRec's."""
    out = []
    data = f"synthetic, {N_ITEMS:,} items"
    for r in speeds:
        beams = "full scoring" if r.beams is None else f"{r.beams} beams"
        tokens = "" if r.tokens is None else f", {r.tokens} ID tokens"
        model = f"{r.model}{tokens}, {r.precision}, {beams}"
        head = r.beams is None or (
            r.beams == max(BEAM_WIDTHS) and r.tokens == 3 and r.precision == "bfloat16"
        )
        out += [
            Record(data, model, "batch-1 p50 ms", r.p50_ms),
            Record(data, model, "batch-1 p99 ms", r.p99_ms),
            Record(data, model, f"users/s (batch {args.batch})", r.users_per_s, headline=head),
        ]
    for r in scales:
        scale = f"synthetic, {r.n_items:,} items"
        out += [
            Record(scale, "SemanticIds.trie", "build s", r.build_s),
            Record(scale, "SemanticIds.trie", "trie MB", r.trie_mb),
            Record(scale, f"decoder-only, {max(BEAM_WIDTHS)} beams", "batch-1 p50 ms", r.p50_ms),
        ]
    for r in trainings:
        model = f"{r.model}, mixed precision {r.precision}"
        out += [
            Record("beauty", model, "training examples/s", r.per_s),
            Record("beauty", model, "length-adjusted epoch min", r.adjusted_epoch_s / 60),
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-runs", type=int, default=100)
    parser.add_argument("--throughput-runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256, help="users per throughput batch")
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--scaling-runs", type=int, default=30, help="latency runs per size")
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--train-batch", type=int, default=256)
    parser.add_argument(
        "--histories",
        choices=sorted(HISTORY_NOTES),
        default="beauty",
        help="decoding inputs: real Beauty test histories or 20 random items per user",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()
    parts, found = run(args)
    where = machine()
    body = "\n".join(
        [
            f"### {TITLE}",
            "",
            f"{where}; commit {source_commit()}; load average at start "
            f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}: other jobs may share these cores, "
            "so absolute numbers can be pessimistic.",
            "",
            "Untrained, randomly initialised (seeded) networks: what decoding and training "
            "compute (tensor shapes, beams, trie queries) does not depend on the weights. "
            f"Decoder-only: hidden {DECODER_ONLY.hidden}, {DECODER_ONLY.layers} layers, "
            f"{DECODER_ONLY.heads} heads, ff {DECODER_ONLY.ff_dim} "
            "(configs/decoder-only-beauty.yaml); TIGER: TigerConfig() (2 + 2 layers, d_model "
            f"128); SASRec: hidden {SASREC.hidden}, {SASREC.layers} layers. "
            f"{HISTORY_NOTES[args.histories]} "
            f"torch uses {torch.get_num_threads()} thread(s) (--threads).",
            "",
            *parts,
        ]
    )
    print(body)
    if not args.no_write:
        write_experiment(
            "generative-speed",
            body,
            found,
            title=TITLE,
            script="benchmarks/generative_speed.py",
            commit=source_commit(),
            machine=where,
        )


if __name__ == "__main__":
    main()
