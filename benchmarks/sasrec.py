"""Benchmark: SASRec (and the popularity floor) on Amazon 2014 Beauty / Sports, published protocol.

Trains through the same recipes as `genrec train` (configs/sasrec-<dataset>.yaml), one run per
(dataset, seed), then writes the experiment benchmarks/results/<recipe>-<loss>-<dataset>.md (and
its .json) with test metrics (mean ± std over seeds), epochs, CPU time, machine and commit. Runs
live in runs/bench/ and are resumed if the script is interrupted, so it can be run in several
sittings.

    python benchmarks/sasrec.py --datasets beauty sports --seeds 42 43 44
    python benchmarks/sasrec.py --datasets beauty --loss sampled   # sampled softmax, 256 negatives
    python benchmarks/sasrec.py --recipe esasrec --datasets beauty sports --seeds 42 43 44
    python benchmarks/sasrec.py --datasets beauty --exclude-history   # seen items filtered

``--exclude-history`` removes each user's history from the ranking in validation and test, the
convention of RecTools (``filter_viewed=True``), on which the eSASRec numbers (RecSys 2025) were
measured; its runs and experiment carry a ``-filtered`` tag so they never mix with the published
protocol's (nothing excluded).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from results import Record, machine, write_experiment
from runs import Runs, eval_records, run_summary, target_verdict, test_results, train_or_report

from genrec.config import load_config
from genrec.eval.report import PUBLISHED_COLUMNS, markdown_table
from genrec.recipes.recipe import Recipe
from genrec.training.run_dir import RunDir, source_commit

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"beauty": {"recall@10": 0.080, "ndcg@10": 0.045}}
#: The eSASRec authors' best SASRec on these splits (eSASRec, RecSys 2025).
ESASREC_TARGETS = {
    "beauty": {"recall@10": 0.0921, "ndcg@10": 0.0531},
    "sports": {"recall@10": 0.0569, "ndcg@10": 0.0314},
}
COLUMNS = (*PUBLISHED_COLUMNS, "recall@20", "ndcg@20")


def run_one(
    dataset: str,
    model: str,
    seed: int,
    loss: str,
    extra: list[str],
    report_only: bool = False,
    recipe: str = "sasrec",
    filtered: bool = False,
) -> RunDir | None:
    """Train (or resume) one run; ``report_only`` evaluates an unfinished run's best checkpoint
    so far instead of training on (its section then says where it stopped), and skips a run
    that has none (None). ``recipe``: the configs/<recipe>-<dataset>.yaml a SASRec run uses;
    ``filtered``: rank without the user's history (validation and test)."""
    config = ROOT / "configs" / f"{recipe if model == 'sasrec' else 'popularity'}-{dataset}.yaml"
    tag = run_tag(model, recipe, loss, filtered)
    overrides = [
        f"run_dir={ROOT / 'runs' / 'bench' / f'{tag}-{dataset}-s{seed}'}",
        f"train.seed={seed}",
        "train.progress=false",
        f"eval.exclude_history={str(filtered).lower()}",
        *extra,
    ]
    if model == "sasrec":
        overrides.append(f"sasrec.loss={loss}")
    else:
        overrides.append(f"data.path=../shared/data/amazon2014-{dataset}")
    return train_or_report(load_config(Recipe, config, overrides), report_only)


def run_tag(model: str, recipe: str, loss: str, filtered: bool) -> str:
    """The name of a run in runs/bench/ and in its section's table."""
    tag = f"{recipe}-{loss}" if model == "sasrec" else "popularity"
    return f"{tag}-filtered" if filtered else tag


def title(dataset: str, loss: str, recipe: str = "sasrec", filtered: bool = False) -> str:
    return (
        f"{dataset}: {'eSASRec' if recipe == 'esasrec' else 'SASRec'} ({loss}) vs popularity,"
        f" test split{', history items removed from every ranking' if filtered else ''}"
    )


def section(
    dataset: str, loss: str, runs: Runs, recipe: str = "sasrec", filtered: bool = False
) -> tuple[str, list[Record]]:
    """``runs``: model -> seed -> run. The report and its records."""
    results = test_results(runs)
    # One seed: show its 95% CI over users; several: mean ± std across seeds.
    rows = {name: rs[0] if len(rs) == 1 else rs for name, rs in results.items()}
    lines = [markdown_table(rows, columns=COLUMNS)]
    records = eval_records(
        rows,
        {name: list(by_seed) for name, by_seed in runs.items()},
        COLUMNS,
        dataset=dataset,
        protocol=f"test, {'history removed' if filtered else 'full ranking'}",
        commit=source_commit(),
        machine=machine(),
    )
    for name, rs in runs.items():
        if name.startswith("popularity"):
            continue  # no training loop
        lines.extend(run_summary(name, seed, run) for seed, run in rs.items())
    # The eSASRec targets were measured with seen items filtered, so they apply to eSASRec and to
    # any filtered run; the older targets to SASRec under the published protocol.
    targets = ESASREC_TARGETS if recipe == "esasrec" or filtered else TARGETS
    name = run_tag("sasrec", recipe, loss, filtered)
    if (target := targets.get(dataset)) and name in results:
        lines.append(f"- target: {target_verdict(results[name], target)}")
    return "\n".join(lines) + "\n", records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets", nargs="+", choices=["beauty", "sports"], default=["beauty", "sports"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument(
        "--recipe",
        choices=["sasrec", "esasrec"],
        default="sasrec",
        help="configs/<recipe>-<dataset>.yaml: the 2-block SASRec or eSASRec (LiGR, sampled)",
    )
    parser.add_argument("--loss", choices=["ce", "sampled"], help="default: ce, eSASRec's sampled")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="do not train further: evaluate unfinished runs' best checkpoints and report",
    )
    parser.add_argument(
        "--exclude-history",
        action="store_true",
        help="remove each user's history from the ranking (RecTools' filter_viewed, eSASRec's)",
    )
    parser.add_argument("--note", default="", help="free text for the header (e.g. CPU load)")
    parser.add_argument("overrides", nargs="*", help="extra recipe overrides, e.g. train.epochs=50")
    args = parser.parse_args()
    loss = args.loss or ("sampled" if args.recipe == "esasrec" else "ce")
    filtered = args.exclude_history
    name = run_tag("sasrec", args.recipe, loss, filtered)
    for dataset in args.datasets:
        plans = {
            run_tag("popularity", args.recipe, loss, filtered): {args.seeds[0]: ("popularity", [])},
            name: {s: ("sasrec", args.overrides) for s in args.seeds},
        }
        runs = {
            name: {
                seed: run
                for seed, (model, extra) in by_seed.items()
                if (
                    run := run_one(
                        dataset, model, seed, loss, extra, args.report_only, args.recipe, filtered
                    )
                )
            }
            for name, by_seed in plans.items()
        }
        header = (
            f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; commit {source_commit()}; "
            f"seeds {args.seeds}; overrides {args.overrides or 'none'}. {args.note}\n\n"
        )
        body, records = section(dataset, loss, runs, args.recipe, filtered)
        write_experiment(
            f"{name}-{dataset}",
            header + body,
            records,
            title=title(dataset, loss, args.recipe, filtered),
            script="benchmarks/sasrec.py",
        )


if __name__ == "__main__":
    main()
