"""Benchmark: generative retrieval recipes next to SASRec and the TIGER paper, published protocol.

Trains (or resumes) configs/<model>-<dataset>.yaml for each model and seed into
runs/bench/<model>-<dataset>-s<seed> (the semantic IDs the recipe names must exist: see the
config's header), then writes the experiment benchmarks/results/generative-<dataset>.md (and its
.json) with test Recall / NDCG at 5 and 10, the SASRec run of benchmarks/sasrec.py on the same
data when there is one, the TIGER paper's numbers, per-run epochs and time, and the Beauty
target (the TIGER paper's numbers).
Run from anywhere; paths are relative to the repository root.

    python benchmarks/generative.py --datasets beauty --models decoder-only --seeds 42
    python benchmarks/generative.py --datasets beauty --models decoder-only --report-only
    python benchmarks/generative.py --models decoder-only --seeds 42 43 44 --ensemble decoder-only

``--ensemble MODEL`` also evaluates MODEL's seeds decoded together (genrec.recommend.ensemble)
into runs/bench/<model>-<dataset>-ensemble, once per set of member runs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from results import Record, machine, write_experiment
from runs import Runs, eval_records, run_summary, target_verdict, test_results, train_or_report

from genrec.config import load_config
from genrec.eval import EvalResult
from genrec.eval.report import PUBLISHED_COLUMNS, markdown_table
from genrec.recipes.evaluate import evaluate_ensemble
from genrec.recipes.recipe import Recipe
from genrec.training.run_dir import RunDir, source_commit

ROOT = Path(__file__).resolve().parents[1]
#: TIGER paper (Rajput et al., arXiv 2305.05065), Table 1: Recall@5, NDCG@5, Recall@10, NDCG@10.
PAPER = {
    "beauty": (0.0454, 0.0321, 0.0648, 0.0384),
    "sports": (0.0264, 0.0181, 0.0400, 0.0225),
}
TARGETS = {"beauty": {"recall@10": 0.0648, "ndcg@10": 0.0384}}


def run_dir(model: str, dataset: str, seed: int) -> Path:
    return Path("runs") / "bench" / f"{model}-{dataset}-s{seed}"


def run_one(
    model: str, dataset: str, seed: int, extra: list[str], report_only: bool
) -> RunDir | None:
    overrides = [
        f"run_dir={run_dir(model, dataset, seed)}",
        f"train.seed={seed}",
        "train.progress=false",
        *extra,
    ]
    recipe = load_config(Recipe, Path("configs") / f"{model}-{dataset}.yaml", overrides)
    return train_or_report(recipe, report_only)


def ensemble_results(model: str, dataset: str, by_seed: dict[int, RunDir]) -> EvalResult:
    """Test results of ``model``'s seeds as one ensemble, evaluated unless its directory
    already holds them for exactly these runs."""
    out = RunDir(Path("runs") / "bench" / f"{model}-{dataset}-ensemble")
    members = [str(run.path) for run in by_seed.values()]
    done = out.manifest.is_file() and json.loads(out.manifest.read_text())["ensemble"] == members
    if not (done and out.eval_dir("test").is_dir()):
        evaluate_ensemble(members, out.path)
    return EvalResult.load(out.eval_dir("test"))


def title(dataset: str) -> str:
    return f"{dataset}: generative retrieval vs SASRec, test split"


def section(
    dataset: str, seeds: list[int], runs: Runs, ensembles: list[str]
) -> tuple[str, list[Record]]:
    """``runs``: model -> seed -> run (report-only reports the seeds each model has);
    ``ensembles``: models whose seeds are also reported decoded together. The report and its
    records."""
    results = test_results(runs)
    row_seeds = {name: list(by_seed) for name, by_seed in runs.items()}
    for model in ensembles:
        if len(runs.get(model, {})) > 1:
            name = f"{model}, ensemble of seeds {', '.join(map(str, runs[model]))}"
            results[name] = [ensemble_results(model, dataset, runs[model])]
            row_seeds[name] = list(runs[model])
    generative = list(results)  # the verdicts below are for these rows
    sasrec = run_dir("sasrec-ce", dataset, seeds[0])
    if (sasrec / "eval" / "test").is_dir():  # written by benchmarks/sasrec.py
        results["sasrec-ce (benchmarks/sasrec.py)"] = [EvalResult.load(sasrec / "eval" / "test")]
        row_seeds["sasrec-ce (benchmarks/sasrec.py)"] = [seeds[0]]
    # One seed: its 95% CI over users; several: mean ± std across seeds.
    rows = {name: rs[0] if len(rs) == 1 else rs for name, rs in results.items()}
    lines = [markdown_table(rows, columns=PUBLISHED_COLUMNS)]
    records = eval_records(
        rows,
        row_seeds,
        PUBLISHED_COLUMNS,
        dataset=dataset,
        protocol="test, full ranking",
        commit=source_commit(),
        machine=machine(),
    )
    if dataset in PAPER:
        paper = " / ".join(f"{v:.4f}" for v in PAPER[dataset])
        lines.append(f"- TIGER paper (Table 1), same columns: {paper}")
    for name, rs in runs.items():
        lines.extend(run_summary(name, seed, run) for seed, run in rs.items())
    if target := TARGETS.get(dataset):
        lines.extend(
            f"- {name} vs the TIGER paper's numbers: {target_verdict(results[name], target)}"
            for name in generative
        )
    return "\n".join(lines) + "\n", records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["beauty"])
    parser.add_argument("--models", nargs="+", default=["decoder-only"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42])
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="do not train further: evaluate unfinished runs' best checkpoints and report",
    )
    parser.add_argument(
        "--ensemble",
        nargs="*",
        default=[],
        metavar="MODEL",
        help="also report these models' seeds decoded as one ensemble",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--note", default="", help="free text for the header (e.g. CPU load)")
    parser.add_argument("overrides", nargs="*", help="extra recipe overrides, e.g. train.epochs=50")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.chdir(ROOT)  # recipes name data, IDs and runs relative to the repository root
    for dataset in args.datasets:
        runs = {
            model: {
                seed: run
                for seed in args.seeds
                if (run := run_one(model, dataset, seed, args.overrides, args.report_only))
            }
            for model in args.models
        }
        header = (
            f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; commit {source_commit()}; "
            f"seeds {sorted({seed for by_seed in runs.values() for seed in by_seed})}; "
            f"overrides {args.overrides or 'none'}. {args.note}\n\n"
        )
        body, records = section(dataset, args.seeds, runs, args.ensemble)
        write_experiment(
            f"generative-{dataset}",
            header + body,
            records,
            title=title(dataset),
            script="benchmarks/generative.py",
        )


if __name__ == "__main__":
    main()
