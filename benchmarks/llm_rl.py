"""Benchmark: SRPO post-training of the SmolLM2 backbone on Office, direct and reasoning modes
(GREAM's SRPO, arXiv 2510.20815; LLM backbone).

- ``train CONFIG [key=value ...]``: post-train (or resume) the recipe's run without its final
  evaluation (every validation and test user: about an hour per mode on one CPU thread);
  before and after are measured instead by ``benchmarks/llm_reasoning.py eval`` on the same
  fixed sample of test users (seed 0): Recall/NDCG@5/10 of direct and reasoning mode, Pass@1 /
  Pass@k of sampled chains;
- ``table LABEL=EVAL.json ...``: one markdown row per ``llm_reasoning.py eval --json`` file
  (before and after, side by side);
- ``summary RUN``: how the run went and its speed, from its per-step log: steps, validation
  NDCG@10 (start and best), reward, exact hits, well-formed chains, zero-variance groups, KL,
  seconds per RL step and the share spent sampling vs updating.

    python benchmarks/llm_rl.py train configs/srpo-llm-office.yaml
    python benchmarks/llm_rl.py train configs/srpo-llm-reasoning-office.yaml
    python benchmarks/llm_rl.py summary runs/srpo-llm-office
    python benchmarks/llm_reasoning.py eval runs/srpo-llm-office --checkpoint best --users 300
    python benchmarks/llm_rl.py table start=before.json SRPO=after.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from genrec.config import load_config
from genrec.recipes.post_train import post_train
from genrec.recipes.recipe import Recipe
from genrec.training.run_dir import RunDir


def summary(path: str) -> str:
    """How the run went and its speed, as markdown lines."""
    run = RunDir(Path(path))
    recipe = load_config(Recipe, run.config)
    log = run.epochs()
    steps = [r for r in log if "reward" in r]
    valid = [r for r in log if "valid/ndcg@10" in r]
    best = max(valid, key=lambda r: r["valid/ndcg@10"])  # the first best, as the run kept

    def mean(key: str) -> float:
        return statistics.fmean(r[key] for r in steps)

    formed = f", well-formed chains {mean('well_formed'):.0%}" if "well_formed" in steps[0] else ""
    sample, update = mean("sample_seconds"), mean("update_seconds")
    rollouts = recipe.rl.users_per_step * recipe.rl.rollouts
    ndcg = " / ".join(f"{r['valid/ndcg@10']:.4f}" for r in valid)
    valid_s = statistics.fmean(r["valid_seconds"] for r in valid)
    return "\n".join(
        [
            f"- {path} ({recipe.rl.mode} mode, {recipe.rl.users_per_step} users x "
            f"{recipe.rl.rollouts} rollouts, lr {recipe.train.lr}): {len(steps)} steps, "
            f"validation NDCG@10 (direct mode, {recipe.eval.valid_users} users) "
            f"{ndcg} at steps "
            f"{', '.join(str(r['step']) for r in valid)}; kept step {best['step']}. Mean reward "
            f"{mean('reward'):.3f}, exact hits {mean('exact'):.1%}{formed}, zero-variance "
            f"groups {mean('zero_variance'):.0%}, KL at the last step {steps[-1]['kl']:.4f}.",
            f"- speed: {sample + update:.1f} s per RL step ({rollouts} rollouts, "
            f"{rollouts / (sample + update):.2f} rollouts/s): {sample / (sample + update):.0%} "
            f"sampling ({sample:.1f} s), {update / (sample + update):.0%} updating "
            f"({update:.1f} s); a validation {valid_s:.0f} s.",
        ]
    )


def table(evaluations: list[str]) -> str:
    """Rows of test metrics of both modes and Pass@k, one per ``LABEL=FILE``."""
    lines = [
        "| checkpoint | direct R@5 | N@5 | R@10 | N@10 | reasoning R@5 | N@5 | R@10 | N@10 | "
        "chains at cap | Pass@1 | Pass@k (users) |",
        "|---|" + "---:|" * 11,
    ]
    for item in evaluations:
        label, path = item.split("=", 1)
        out = json.loads(Path(path).read_text())
        d, r, s = out["direct"], out["reasoning"], out.get("sampled")
        cells = [
            f"{m[f'{name}@{k}']:.4f}"
            for m in (d, r)
            for k in (5, 10)
            for name in ("recall", "ndcg")
        ]
        cells.append(f"{r['chains_at_cap']} / {out['users']}")
        if s:
            at_k = s["pass@" + str(s["samples"])]
            cells += [f"{s['pass@1']:.4f}", f"{at_k:.4f} (k={s['samples']}, {s['users']} users)"]
        else:
            cells += ["-", "-"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="post-train without the final evaluation")
    train.add_argument("config")
    train.add_argument("overrides", nargs="*")
    report = sub.add_parser("summary", help="how a run went, and its speed")
    report.add_argument("run")
    rows = sub.add_parser("table", help="before / after rows from llm_reasoning.py eval files")
    rows.add_argument("evaluations", nargs="+", metavar="LABEL=FILE")
    args = parser.parse_args()
    if args.command == "table":
        print(table(args.evaluations))
        return
    if args.command == "train":
        run = post_train(load_config(Recipe, args.config, args.overrides), final=False)
        print(f"post-trained {run.path}")
    print(summary(args.run if args.command == "summary" else str(run.path)))


if __name__ == "__main__":
    main()
