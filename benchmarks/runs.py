"""Shared by the benchmarks that train: train or report a run, summarise it, and its records.

Runs live in run directories (runs/bench/...) and are resumed when a benchmark is started
again; ``--report-only`` modes evaluate what the runs hold without training on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from results import Record

from genrec.config import load_config
from genrec.eval import EvalResult
from genrec.eval.report import Entry, summarize_entry
from genrec.recipes.evaluate import final_evaluation, load_run
from genrec.recipes.post_train import post_train
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train
from genrec.training.run_dir import RunDir


def run_status(run: RunDir) -> str:
    """The manifest's status of a run directory ("finished", "training", or "?")."""
    if not run.manifest.is_file():
        return "?"
    return json.loads(run.manifest.read_text()).get("status", "?")


def run_summary(name: str, seed: int, run: RunDir) -> str:
    """One line per trained run: epochs, best validation epoch, training and validation time."""
    log = run.epochs()
    train_s = sum(r.get("seconds", 0.0) for r in log)
    valid_s = sum(r.get("valid_seconds", 0.0) for r in log)
    best = max(log, key=lambda r: r.get("valid/ndcg@10", -1.0), default={})
    stopped = "" if run_status(run) == "finished" else " (STOPPED before the end of training)"
    trained_at = json.loads(run.manifest.read_text()).get("commit")
    sample = load_config(Recipe, run.config).eval.valid_users
    sampled = f" (on a fixed sample of {sample:,} validation users)" if sample else ""
    timing = f"training {train_s / 60:.1f} min"
    if valid_s:
        timing += f" + validation {valid_s / 60:.1f} min"
    return (
        f"- {name} seed {seed}: {len(log)} epochs{stopped}, best validation NDCG@10 "
        f"{best.get('valid/ndcg@10', float('nan')):.4f}{sampled} at epoch "
        f"{best.get('epoch', '-')}, "
        f"{timing} (trained at commit {trained_at})"
    )


def train_or_report(recipe: Recipe, report_only: bool = False) -> RunDir | None:
    """Train (or resume) ``recipe``'s run; ``report_only`` trains nothing: a finished run is
    reported as it is, an unfinished one by its best checkpoint so far (its summary line then
    says it stopped early), and a run without a checkpoint is skipped (None)."""
    run = RunDir(Path(recipe.run_dir))
    if not report_only:
        return post_train(recipe) if recipe.init_from else train(recipe)
    if run_status(run) == "finished" and run.eval_dir("test").is_dir():
        return run
    if not run.best.is_dir():
        print(f"skipped: {run.path} has no checkpoint to report (run it without --report-only)")
        return None
    loaded, dataset, split, recommender = load_run(run.path)
    final_evaluation(recommender, dataset, split, loaded, run)
    return run


#: model -> seed -> run directory, as the benchmark scripts collect them.
Runs = dict[str, dict[int, RunDir]]


def test_results(runs: Runs) -> dict[str, list[EvalResult]]:
    """Each model's test results, one per seed; models without a run are left out."""
    return {
        name: [EvalResult.load(run.eval_dir("test")) for run in by_seed.values()]
        for name, by_seed in runs.items()
        if by_seed
    }


def target_verdict(results: Sequence[EvalResult], target: Mapping[str, float]) -> str:
    """ "metric mean (target >= x: met / NOT met), ..." over seeds' results."""
    means = {k: sum(r.metrics[k] for r in results) / len(results) for k in target}
    return ", ".join(
        f"{k} {means[k]:.4f} (target >= {v}: {'met' if means[k] >= v else 'NOT met'})"
        for k, v in target.items()
    )


def eval_records(
    rows: Mapping[str, Entry],
    seeds: Mapping[str, Sequence[int]],
    columns: Sequence[str],
    headline: Sequence[str] = ("recall@10", "ndcg@10"),
    **common: str,
) -> list[Record]:
    """One record per row and metric of a results table, valued as the table shows it (one
    run: its 95% CI half-width; several seeds: mean and std). ``common``: the records' dataset,
    protocol, commit and machine."""
    records = []
    for name, entry in rows.items():
        cells, _ = summarize_entry(entry)
        for metric in columns:
            value, spread = cells[metric]
            ci = None if math.isnan(spread) else spread
            records.append(
                Record(
                    model=name,
                    metric=metric,
                    value=value,
                    ci=ci,
                    seeds=tuple(seeds.get(name, ())),
                    headline=metric in headline,
                    **common,
                )
            )
    return records
