"""Benchmark: what eSASRec's recipe (configs/esasrec-beauty.yaml) costs on a CPU, and how its
validation NDCG@10 climbs, beside the current SASRec recipe (configs/sasrec-beauty.yaml).

``speed`` trains a few epochs of each variant through the real training loop (one thread) and
reports training seconds per epoch (validation apart): SASRec as configured, eSASRec with
length-bucketed batches (``train.bucket_by_length=true``: padding columns trimmed), and eSASRec
on random batches (SASRec's default, capped at ``--random-steps`` batches and scaled to a full
epoch). It also counts the window cells a model computes per epoch after trimming, against the
untrimmed windows (what every batch cost before the trimming existed).

``curve`` trains the eSASRec recipe on validation only for ``--epochs`` more epochs (run
directory resumed: call it again to go on) and prints validation NDCG@10 per epoch beside the
SASRec run's ``metrics.jsonl``. It never evaluates test.

    python benchmarks/esasrec.py speed --epochs 2
    python benchmarks/esasrec.py curve --epochs 10 --baseline ../bench13/runs/sasrec-beauty
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from pathlib import Path

import torch
from accelerate.utils import set_seed
from results import Record, machine, write_experiment

from genrec.config import load_config
from genrec.data.prepare import load_dataset, make_split
from genrec.models.recommender import trim_padding
from genrec.recipes.evaluate import as_recommender, build_model, training_examples
from genrec.recipes.loop import epoch_batches, fit
from genrec.recipes.recipe import Recipe
from genrec.threads import apply_threads
from genrec.training.run_dir import RunDir, source_commit

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "esasrec-bench"


def recipe_of(config: str, run_dir: Path, overrides: list[str]) -> Recipe:
    path = ROOT / "configs" / config
    return load_config(Recipe, path, [f"run_dir={run_dir}", "train.progress=false", *overrides])


def train_epochs(recipe: Recipe, fresh: bool) -> tuple[list[dict], int]:
    """Run the training loop on ``recipe`` (validation each epoch, never test): its log and
    the number of training examples."""
    run = RunDir(Path(recipe.run_dir))
    if fresh and run.path.exists():
        shutil.rmtree(run.path)
    run.path.mkdir(parents=True, exist_ok=True)
    set_seed(recipe.train.seed)
    dataset = load_dataset(recipe.data)
    split = make_split(dataset, recipe.data)
    model = build_model(recipe, dataset, split)
    examples = training_examples(model, split)

    def recommend(m: torch.nn.Module) -> object:
        return as_recommender(m, recipe, None)

    fit(model, examples, recommend, split, recipe, run)
    log = [json.loads(line) for line in run.path.joinpath("metrics.jsonl").read_text().splitlines()]
    return log, len(examples["windows"])


def cells_per_epoch(recipe: Recipe, bucketed: bool) -> tuple[int, int]:
    """(window cells after trimming, untrimmed cells) over one epoch's batches of ``recipe``."""
    dataset = load_dataset(recipe.data)
    split = make_split(dataset, recipe.data)
    examples = training_examples(build_model(recipe, dataset, split), split)
    windows, lengths = examples["windows"], examples["lengths"]
    generator = torch.Generator().manual_seed(recipe.train.seed)
    batches = epoch_batches(
        len(windows), recipe.train.batch_size, generator, lengths if bucketed else None
    )
    return sum(trim_padding(windows[b]).numel() for b in batches), windows.numel()


def speed(args: argparse.Namespace) -> None:
    variants = {
        "sasrec-beauty (as configured)": ("sasrec-beauty.yaml", [], None),
        "esasrec-beauty, length-bucketed": (
            "esasrec-beauty.yaml",
            ["train.bucket_by_length=true"],
            None,
        ),
        "esasrec-beauty, random batches": (
            "esasrec-beauty.yaml",
            ["train.bucket_by_length=false", f"train.steps_per_epoch={args.random_steps}"],
            args.random_steps,
        ),
    }
    costs: dict[str, float] = {}  # seconds per epoch, training and validation
    records = []
    rows = [
        "| recipe | batches / epoch | train s / epoch | valid s / epoch | valid NDCG@10 by epoch |",
        "|---|---|---|---|---|",
    ]
    for name, (config, extra, capped) in variants.items():
        epochs = 1 if capped else args.epochs
        tag = name.split(" ")[0] + ("-random" if capped else "")
        recipe = recipe_of(config, RUNS / tag, [f"train.epochs={epochs}", *extra, *args.overrides])
        log, n_examples = train_epochs(recipe, fresh=True)
        seconds = [r["seconds"] for r in log]
        per_epoch = sum(seconds) / len(seconds)
        steps = log[0]["steps"]
        if capped:  # scale the capped epoch to a whole one
            full = math.ceil(n_examples / recipe.train.batch_size)
            per_epoch, steps = per_epoch * full / steps, full
        valid = [r["valid_seconds"] for r in log]
        costs[name] = per_epoch + sum(valid) / len(valid)
        ndcg = ", ".join(f"{r['valid/ndcg@10']:.4f}" for r in log)
        rows.append(
            f"| {name} | {steps} | {per_epoch:.0f} | {sum(valid) / len(valid):.0f} | {ndcg} |"
        )
        print(rows[-1], flush=True)
        records += [
            Record(
                "beauty",
                name,
                "train s / epoch",
                per_epoch,
                protocol="1 thread",
                seeds=(recipe.train.seed,),
                headline=name == "esasrec-beauty, length-bucketed",
            ),
            Record("beauty", name, "valid s / epoch", sum(valid) / len(valid), "1 thread"),
        ]
    esasrec = recipe_of("esasrec-beauty.yaml", RUNS / "cells", args.overrides)
    bucketed, full = cells_per_epoch(esasrec, bucketed=True)
    random, _ = cells_per_epoch(esasrec, bucketed=False)
    cells = (
        f"Window cells per eSASRec epoch (batch {esasrec.train.batch_size}, windows of "
        f"{esasrec.data.max_history + 1}): untrimmed {full:,}; random batches trimmed "
        f"{random:,} ({random / full:.0%}); length-bucketed and trimmed {bucketed:,} "
        f"({bucketed / full:.0%})."
    )
    print(cells)
    where = machine()
    header = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {where}; commit {source_commit()}; "
        f"1 thread (taskset -c 1); seed 42; {args.epochs} epoch(s) each. {args.note}\n\n"
    )
    epoch = costs["esasrec-beauty, length-bucketed"]
    projection = (
        f"Projected eSASRec run on this machine, 1 thread: {epoch / 60:.1f} min per epoch with "
        f"validation, so {50 * epoch / 3600:.1f} h for 50 epochs and {200 * epoch / 3600:.1f} h "
        "for the recipe's ceiling of 200 (patience 50 stops it earlier only after 50 epochs "
        "without a better validation NDCG@10)."
    )
    body = "\n".join(rows) + "\n\n" + cells + "\n\n" + projection + "\n"
    write_experiment(
        "esasrec",
        header + body,
        records,
        title="eSASRec's recipe in genrec: cost per epoch on Beauty",
        script="benchmarks/esasrec.py",
        commit=source_commit(),
        machine=where,
    )


def curve(args: argparse.Namespace) -> None:
    run_dir = RUNS / "curve"
    log_path = run_dir / "metrics.jsonl"
    done = len(log_path.read_text().splitlines()) if log_path.is_file() else 0
    epochs = done + args.epochs
    recipe = recipe_of("esasrec-beauty.yaml", run_dir, [f"train.epochs={epochs}", *args.overrides])
    log, _ = train_epochs(recipe, fresh=False)
    baseline = Path(args.baseline) / "metrics.jsonl"
    base = [json.loads(x) for x in baseline.read_text().splitlines()] if baseline.is_file() else []
    print("| epoch | eSASRec valid NDCG@10 | train s | SASRec valid NDCG@10 |")
    print("|---|---|---|---|")
    for i, r in enumerate(log):
        other = f"{base[i]['valid/ndcg@10']:.4f}" if i < len(base) else "-"
        print(f"| {r['epoch']} | {r['valid/ndcg@10']:.4f} | {r['seconds']:.0f} | {other} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("speed", help="training seconds per epoch, three variants")
    s.add_argument("--epochs", type=int, default=2)
    s.add_argument("--random-steps", type=int, default=40)
    s.add_argument("--note", default="", help="free text for the header (e.g. CPU load)")
    c = sub.add_parser("curve", help="eSASRec validation NDCG@10 per epoch (resumable)")
    c.add_argument("--epochs", type=int, default=10, help="epochs to add to the run")
    c.add_argument("--baseline", default=str(ROOT / "runs" / "sasrec-beauty"))
    for p in (s, c):
        p.add_argument("overrides", nargs="*", help="recipe overrides for every variant")
    args = parser.parse_args()
    os.chdir(ROOT)  # the recipes' data paths are relative to the repository root
    apply_threads(1)
    if args.command == "speed":
        speed(args)
    else:
        curve(args)


if __name__ == "__main__":
    main()
