"""Scoring under the trie: renormalised per-level softmax vs raw (masked) log-probabilities.

    python benchmarks/scoring.py runs/decoder-only-hybrid-reassign-beauty [RUN ...]

For each finished generative run, decodes validation and test with ``decode.scoring``
``renormalized`` and ``raw`` (the same network, beams and precision; only the score an item
gets changes) and reports Recall/NDCG@5/10 of both and the mean top-10 overlap of their lists.
The choice of default is made on validation; test is reported beside it, never used to pick.
Writes the experiment benchmarks/results/scoring.md (and scoring.json; ``--key`` names another).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from results import Record, dataset_name, machine, write_experiment

from genrec.eval.harness import evaluate
from genrec.recipes.evaluate import load_run
from genrec.recipes.loop import validation_sample
from genrec.recommend.generative import GenerativeRecommender
from genrec.training.run_dir import source_commit

SCORINGS = ("renormalized", "raw")
METRICS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10")
TITLE = "Scoring under the trie: renormalized vs raw (benchmarks/scoring.py)"


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of items two ``[N, 10]`` top-10 lists have in common."""
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)]))


def run_rows(path: str, users: int | None) -> tuple[list[str], list[Record]]:
    """Table rows of one run, and their records."""
    recipe, _, split, recommender = load_run(path)
    if not isinstance(recommender, GenerativeRecommender):
        raise SystemExit(f"{path}: {recipe.model} is not a generative run")
    rows, records = [], []
    for name, cases in (("valid", split.valid), ("test", split.test)):
        cases = validation_sample(cases, users, seed=0)
        lists, cells = {}, []
        for scoring in SCORINGS:
            recommender.scoring = scoring
            started = time.perf_counter()
            result = evaluate(
                recommender, cases, exclude_history=recipe.eval.exclude_history, progress=False
            )
            seconds = time.perf_counter() - started
            lists[scoring] = np.stack(result.per_user["items"].to_list())[:, :10]
            cells.append((scoring, result.metrics, seconds))
        shared = overlap(lists["renormalized"], lists["raw"])
        for scoring, metrics, seconds in cells:
            values = " | ".join(f"{metrics[m]:.4f}" for m in METRICS)
            rows.append(
                f"| {path} | {name} ({len(cases):,}) | {scoring} | {values} | {shared:.2f} "
                f"| {seconds:.0f} |"
            )
            records += [
                Record(
                    dataset_name(recipe.data.path),
                    f"{path}, {scoring}",
                    m,
                    metrics[m],
                    protocol=f"{name}, {len(cases):,} users",
                    seeds=(recipe.train.seed,),
                    headline=name == "test" and m == "ndcg@10",
                )
                for m in METRICS
            ]
    return rows, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--users", type=int, help="N users per split (seed 0; default: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--key", default="scoring", help="the experiment to write")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows, records = [], []
    for path in args.runs:
        found, measured = run_rows(path, args.users)
        rows += found
        records += measured
    where = machine()
    body = "\n".join(
        [
            f"### {TITLE}",
            "",
            f"Measured on {where}; commit {source_commit()}. Same network, beams and "
            "precision per run; only how an item is scored changes. Overlap: mean share of "
            "top-10 items both scorings return.",
            "",
            "| run | split (users) | scoring | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 "
            "| top-10 overlap | seconds |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    print(body)
    if not args.no_write:
        write_experiment(
            args.key,
            body,
            records,
            title=TITLE,
            script="benchmarks/scoring.py",
            commit=source_commit(),
            machine=where,
        )


if __name__ == "__main__":
    main()
