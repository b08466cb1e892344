"""Shared by the benchmark scripts: the machine description and RESULTS.md sections."""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from genrec.atomic import atomic_file
from genrec.config import load_config
from genrec.eval import EvalResult
from genrec.recipes.evaluate import final_evaluation, load_run
from genrec.recipes.post_train import post_train
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train
from genrec.training.run_dir import RunDir

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """CPU model, cores, GPU (if any) and torch version, for every results header."""
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in info.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {time.strftime('%Y-%m-%d')}"
    )


def write_section(key: str, body: str) -> None:
    """Replace (or append) the block between ``<!-- key -->`` markers in RESULTS.md."""
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with atomic_file(RESULTS) as tmp:  # benchmarks run side by side: never a half-written file
        tmp.write_text(text)


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
