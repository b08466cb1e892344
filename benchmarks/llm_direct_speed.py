"""Benchmark: the LLM backbone's direct mode against ``generate(prefix_allowed_tokens_fn=...)``.

The same model (SmolLM2-135M-Instruct with 3-level semantic-ID tokens, untrained: the work of
decoding does not depend on the weights) and the same prompts (Office test users' histories),
decoded two ways into the top-``beams`` items:

- direct mode: ``GenerativeRecommender`` over the backbone's ``StepModel``: each prompt is
  prefilled once, the beams share its cache, the trie masks a whole batch at once;
- direct mode on a bfloat16 copy of the weights (``decode.precision: bfloat16``);
- reasoning mode: a free chain of at most ``--chain-tokens`` tokens, then the same search;
- what LLM recommenders ship: ``model.generate(num_beams=..., prefix_allowed_tokens_fn=...)``,
  which prefills the prompt once per beam and asks a Python callback per beam and step.

Reports batch-1 p50 latency and users/s, batched users/s, both lists' validity, the compute
bound of the prefill (2 x parameters x prompt tokens at the machine's measured matmul rate),
and the time of one full fine-tuning step on 8 alignment examples (bf16 autocast and float32).
Writes the experiment benchmarks/results/backbone.md (and backbone.json).

    python benchmarks/llm_direct_speed.py --threads 1 --ids runs/ids/office-rqvae-reassign
    python benchmarks/llm_direct_speed.py --users 2 --no-write   # smoke test
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from generative_speed import Recommend, latencies_ms, percentile, times_ms, unique_catalog
from results import Record, machine, write_experiment

from genrec.data.prepare import DataConfig, load_dataset, make_split
from genrec.families.llm import item_titles
from genrec.models.llm_backbone import LLMBackbone, LLMConfig, llm_backbone
from genrec.models.llm_tasks import AlignmentConfig, alignment_samples, encode
from genrec.recommend.generative import GenerativeRecommender
from genrec.recommend.reasoning import ReasoningRecommender
from genrec.sid.semantic_ids import SemanticIds
from genrec.training.run_dir import source_commit

SEED = 0


def office_histories(n_users: int, max_history: int) -> tuple[torch.Tensor, object, object]:
    """Test histories of ``n_users`` random Office users, the dataset and its split."""
    dataset = load_dataset(DataConfig(format="embedded", path="office"))
    split = make_split(dataset, DataConfig(format="embedded", path="office"))
    rows = np.random.default_rng(SEED).choice(len(split.test), n_users, replace=False)
    histories = torch.as_tensor(split.test.histories[np.sort(rows)])[:, -max_history:]
    return histories, dataset, split


def generate_topk(model: LLMBackbone, histories: torch.Tensor, beams: int) -> torch.Tensor:
    """Top-``beams`` items by ``generate`` with a per-beam ``prefix_allowed_tokens_fn``."""
    ids, tokenizer = model.ids, model.tokenizer
    encoded = tokenizer(
        model.prompts(histories),
        add_special_tokens=False,
        padding=True,
        padding_side="left",
        return_tensors="pt",
    )
    width = encoded["input_ids"].shape[1]
    offsets = torch.as_tensor(ids.level_offsets(model.token_offset))
    sizes = ids.codebook_sizes

    def allowed(batch: int, tokens: torch.Tensor) -> list[int]:
        emitted = tokens[width:]
        level = len(emitted)
        if level >= ids.n_levels:
            return [tokenizer.eos_token_id]
        prefix = (emitted - offsets[:level])[None]
        codes = ids.trie.allowed(prefix)[0].nonzero()[:, 0]
        return (codes + offsets[level]).tolist() if len(codes) else [tokenizer.eos_token_id]

    out = model.lm.generate(
        **encoded,
        num_beams=beams,
        num_return_sequences=beams,
        max_new_tokens=ids.n_levels,
        min_new_tokens=ids.n_levels,
        prefix_allowed_tokens_fn=allowed,
        do_sample=False,
        early_stopping=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    codes = out[:, width : width + ids.n_levels] - offsets
    codes = codes.clamp(min=0, max=max(sizes) - 1)
    return ids.trie.lookup(codes).view(len(histories), beams)


TITLE = "LLM backbone: direct mode vs generate (docs/llm.md)"


@dataclass(frozen=True)
class Speed:
    name: str
    p50_ms: float  # batch 1
    users_per_s: float  # batch 1, one user after another
    batched_users_per_s: float  # every user in one call
    valid: float  # share of returned entries that are catalog items


def speed(name: str, topk: Recommend, histories: torch.Tensor, n_items: int) -> Speed:
    single = latencies_ms(topk, histories, runs=len(histories))
    with torch.inference_mode():
        started = time.perf_counter()
        items = topk(histories)
        batched = len(histories) / (time.perf_counter() - started)
    valid = float(((items >= 0) & (items < n_items)).float().mean())
    return Speed(name, percentile(single, 50), 1000 / statistics.mean(single), batched, valid)


def matmul_gflops(threads: int) -> float:
    """The machine's float32 matmul rate on ``threads`` threads (576-wide, SmolLM2's)."""
    a, b = torch.randn(512, 576), torch.randn(576, 1536)
    ms = statistics.median(times_ms(lambda: a @ b, runs=20, warmup=3))
    return 2 * 512 * 576 * 1536 / (ms / 1000) / 1e9


def train_step_seconds(model: LLMBackbone, batch: dict[str, torch.Tensor], bf16: bool) -> float:
    """Seconds of one AdamW step (forward, backward, update), the second of two."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - started)
    model.eval()
    return seconds[-1]


def run(args: argparse.Namespace) -> tuple[list[str], list[Record]]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    histories, dataset, split = office_histories(args.users, args.max_history)
    ids = SemanticIds.load(args.ids) if args.ids else unique_catalog(dataset.n_items)
    config = LLMConfig(source=args.model, max_history=args.max_history)
    model = llm_backbone(ids, config, item_titles(dataset), device="cpu").eval()
    encoded = model.tokenizer(model.prompts(histories), add_special_tokens=False)
    prompt_tokens = [len(tokens) for tokens in encoded["input_ids"]]
    direct = GenerativeRecommender(model, ids, args.beams, model.token_offset)
    half = GenerativeRecommender(model, ids, args.beams, model.token_offset, dtype=torch.bfloat16)
    reasoning = ReasoningRecommender(model, args.beams, chain_tokens=args.chain_tokens)
    decoders: dict[str, Recommend] = {
        "direct (shared prefill, batched trie)": lambda h: direct.recommend(h, args.beams)[0],
        "direct, bfloat16 copy (decode.precision)": lambda h: half.recommend(h, args.beams)[0],
        "generate(prefix_allowed_tokens_fn)": lambda h: generate_topk(model, h, args.beams),
        f"reasoning (chain of <= {args.chain_tokens} tokens, then the trie)": (
            lambda h: reasoning.recommend(h, args.beams)[0]
        ),
    }
    rows = [speed(name, topk, histories, ids.n_items) for name, topk in decoders.items()]
    with torch.inference_mode():
        chains = reasoning.write_chains(reasoning.prompts(histories))
    chain_length = statistics.mean(len(c) for c in chains)
    params = sum(p.numel() for p in model.parameters())
    gflops = matmul_gflops(args.threads)
    bound = gflops * 1e9 / (2 * params * statistics.mean(prompt_tokens))
    samples = alignment_samples(
        split.train, model.item_strings, item_titles(dataset), AlignmentConfig(), 10, SEED
    )[:8]
    batch = encode(samples, model.chat)
    step_bf16 = train_step_seconds(model, batch, bf16=True)
    step_fp32 = train_step_seconds(model, batch, bf16=False)
    lines = [
        f"## {TITLE}",
        "",
        f"Machine: {machine()}; {args.threads} thread(s), shared with other helpers' jobs "
        f"(load average {os.getloadavg()[0]:.1f}). Commit {source_commit()}, "
        f"seed {SEED}.",
        f"Model: {args.model} ({params / 1e6:.0f}M parameters, float32, untrained ID rows), "
        f"IDs {args.ids or 'synthetic unique 3-level'} ({ids.codebook_sizes}), {args.beams} "
        f"beams, top-{args.beams}; {args.users} Office test users, histories cut to "
        f"{args.max_history} items: prompts of {min(prompt_tokens)}-{max(prompt_tokens)} tokens "
        f"(mean {statistics.mean(prompt_tokens):.0f}).",
        "",
        "| decoder | batch-1 p50 ms | batch-1 users/s | batched users/s | valid items |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.p50_ms:.0f} | {r.users_per_s:.2f} | {r.batched_users_per_s:.2f} | "
        f"{r.valid:.0%} |"
        for r in rows
    ]
    lines += [
        "",
        f"Prefill compute bound: {gflops:.0f} GFLOP/s (576-wide float32 matmul on "
        f"{args.threads} thread(s)) / (2 x {params / 1e6:.0f}M x "
        f"{statistics.mean(prompt_tokens):.0f} tokens) = {bound:.1f} users/s.",
        f"Reasoning mode's chains (the pretrained SmolLM2, untrained for the task): "
        f"{chain_length:.1f} tokens on average; every answer a catalog item (the table's "
        "last column).",
        f"One full fine-tuning step (AdamW) on 8 alignment examples of up to "
        f"{int(batch['lengths'].max())} tokens: {step_bf16:.1f} s with bf16 autocast, "
        f"{step_fp32:.1f} s in float32.",
    ]
    records = []
    for r in rows:
        head = r.name.startswith("direct, bfloat16")
        records += [
            Record("office", f"{args.model}, {r.name}", "batch-1 p50 ms", r.p50_ms),
            Record("office", f"{args.model}, {r.name}", "batch-1 users/s", r.users_per_s),
            Record(
                "office",
                f"{args.model}, {r.name}",
                "batched users/s",
                r.batched_users_per_s,
                headline=head,
            ),
            Record("office", f"{args.model}, {r.name}", "valid items (share)", r.valid),
        ]
    records += [
        Record("office", f"{args.model}, training step", "s, bf16 autocast", step_bf16),
        Record("office", f"{args.model}, training step", "s, float32", step_fp32),
    ]
    return lines, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--ids", default=None, help="a SemanticIds folder for Office")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--beams", type=int, default=20)
    parser.add_argument("--max-history", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--chain-tokens", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines, records = run(args)
    print("\n".join(lines))
    if not args.no_write:
        write_experiment(
            "backbone",
            "\n".join(lines),
            records,
            title=TITLE,
            script="benchmarks/llm_direct_speed.py",
            commit=source_commit(),
            machine=machine(),
        )


if __name__ == "__main__":
    main()
