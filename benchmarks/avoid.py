"""Benchmark: "avoid" as a guarantee (docs/preferences.md): violations and Recall with and
without it.

For each dataset: the attributes generator's statements (leave-one-out steps), the avoid
threshold chosen on the validation steps (``genrec.prefs.threshold``: the lowest cosine at which
at most ``budget`` of the validation targets would be excluded by their user's own negative
statements), then every finished run on that dataset ranks the test cases twice: as is, and
through ``Avoiding`` (the items the user's negative statements of the test step match join
``exclude``). Reported on the test steps: the violation rate (share of top-10 items that match
one of the user's negative statements; and share of lists with at least one), Recall@10 over all
test users and over those with negative statements, items excluded per such user, and the share
of test targets the statements exclude. Writes the experiment benchmarks/results/avoid.md (and
avoid.json).

    python benchmarks/avoid.py            # runs and statements as listed in SETUPS
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from results import Record, machine, write_experiment

from genrec.data.windows import PAD
from genrec.prefs.matching import MatchConfig, avoid_matcher
from genrec.prefs.store import load_statements
from genrec.prefs.threshold import choose_threshold, validation_pairs
from genrec.recipes.evaluate import load_run
from genrec.recommend.avoid import merge_exclude
from genrec.text.template import ItemTemplate
from genrec.training.run_dir import source_commit

ROOT = Path(__file__).resolve().parents[1]
K = 10
BATCH = 512
# dataset -> (statements folder, finished runs, item text the matcher reads)
SETUPS: dict[str, tuple[str, list[str], ItemTemplate]] = {
    "instruments": (
        "runs/prefs/instruments",
        ["runs/popularity-instruments", "runs/sasrec-instruments"],
        ItemTemplate(fields=("title", "description")),  # the text the Instruments IDs read
    ),
    "ml-100k": (
        "runs/prefs/ml100k",
        ["runs/popularity-ml100k", "runs/sasrec-ml100k"],
        ItemTemplate(),
    ),
    "beauty": ("runs/prefs/beauty", ["runs/popularity-beauty"], ItemTemplate()),
}


TITLE = '"Avoid" as a guarantee: violations and Recall@10 with and without enforcement'


def test_statements(dataset, split, statements) -> list[list[str]]:
    """Per test case, the negative statements written for its step (the user's last item)."""
    lengths = dataset.sequences().lengths
    cases = pl.DataFrame(
        {
            "case": np.arange(len(split.test.users)),
            "user": split.test.users.astype(np.int32),
            "step": (lengths[split.test.users] - 1).astype(np.int32),
        }
    )
    negative = statements.table.filter(pl.col("polarity") == "negative")
    grouped = cases.join(negative, on=["user", "step"], how="left").group_by(
        "case", maintain_order=True
    )
    texts = grouped.agg(pl.col("text").drop_nulls()).sort("case")["text"].to_list()
    return [list(t) for t in texts]


def measure(model, split, per_case, matcher, exclude_history: bool) -> dict[str, float]:
    """Recall@K and violations over the test cases, without and with enforcement."""
    n = len(split.test.users)
    hits = {"off": 0, "on": 0}
    hits_neg = {"off": 0, "on": 0}
    bad_items = {"off": 0, "on": 0}
    bad_lists = {"off": 0, "on": 0}
    with_neg = excluded = target_excluded = 0
    seconds = 0.0
    for start in range(0, n, BATCH):
        rows = slice(start, start + BATCH)
        histories = torch.as_tensor(split.test.histories[rows])
        targets = split.test.targets[rows]
        base = histories if exclude_history else None
        began = time.perf_counter()
        banned = matcher.excluded(per_case[rows])
        seconds += time.perf_counter() - began
        has = np.array([len(s) > 0 for s in per_case[rows]])
        with_neg += int(has.sum())
        excluded += sum(len(b) for b in banned)
        target_excluded += sum(int(t in set(b)) for t, b in zip(targets, banned, strict=True))
        for mode, exclude in (("off", base), ("on", merge_exclude(base, banned))):
            with torch.inference_mode():
                items, _ = model.recommend(histories, K, exclude=exclude)
            items = items.numpy()
            hit = (items == targets[:, None]).any(1)
            hits[mode] += int(hit.sum())
            hits_neg[mode] += int(hit[has].sum())
            for row, b in enumerate(banned):
                if len(b):
                    violating = int(np.isin(items[row][items[row] != PAD], b).sum())
                    bad_items[mode] += violating
                    bad_lists[mode] += int(violating > 0)
    return {
        "recall_off": hits["off"] / n,
        "recall_on": hits["on"] / n,
        "recall_neg_off": hits_neg["off"] / max(with_neg, 1),
        "recall_neg_on": hits_neg["on"] / max(with_neg, 1),
        "violation_off": bad_items["off"] / max(with_neg * K, 1),
        "violation_on": bad_items["on"] / max(with_neg * K, 1),
        "lists_off": bad_lists["off"] / max(with_neg, 1),
        "lists_on": bad_lists["on"] / max(with_neg, 1),
        "users": n,
        "with_negatives": with_neg,
        "excluded_per_user": excluded / max(with_neg, 1),
        "test_targets_excluded": target_excluded / max(with_neg, 1),
        "match_ms_per_user": 1000 * seconds / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(SETUPS))
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.02, 0.05])
    args = parser.parse_args()
    torch.set_num_threads(1)
    lines, notes, records = [], [], []
    for name in args.datasets:
        folder, runs, template = SETUPS[name]
        recipe, dataset, split, _ = load_run(ROOT / runs[0])
        statements = load_statements(ROOT / folder, dataset)
        per_case = test_statements(dataset, split, statements)
        matcher = avoid_matcher(dataset, MatchConfig(template=template))
        kinds = matcher.kinds  # words off: by meaning only, no kind phrases either
        texts, targets = validation_pairs(dataset, statements)
        for words, budget in [(w, b) for w in (True, False) for b in args.budgets]:
            matcher.words, matcher.kinds = words, kinds if words else None
            began = time.perf_counter()
            choice = choose_threshold(matcher, texts, targets, budget)
            notes.append(
                f"- {name}, words {'on' if words else 'off'}, budget {budget:.0%}: threshold "
                f"{choice.threshold:.4f} from "
                f"{choice.pairs:,} validation pairs (false exclusion {choice.false_exclusion:.4f}, "
                f"{choice.fixed_false_exclusion:.4f} of it by words or kind; "
                f"{choice.mean_excluded:.0f} items per statement; "
                f"chosen in {time.perf_counter() - began:.1f} s)"
            )
            matcher.threshold = choice.threshold
            for run in runs:
                run_recipe, _, _, model = load_run(ROOT / run)
                m = measure(model, split, per_case, matcher, run_recipe.eval.exclude_history)
                assert m["violation_on"] == 0, f"{run}: an avoided item was recommended"
                lines.append(
                    f"| {name} | {run_recipe.model} | {'on' if words else 'off'} | {budget:.0%} | "
                    f"{choice.threshold:.3f} | "
                    f"{m['with_negatives']:,} / {m['users']:,} | {m['excluded_per_user']:.0f} | "
                    f"{m['violation_off']:.4f} ({m['lists_off']:.3f}) | "
                    f"{m['violation_on']:.4f} ({m['lists_on']:.3f}) | "
                    f"{m['recall_off']:.4f} | {m['recall_on']:.4f} | "
                    f"{m['recall_neg_off']:.4f} | {m['recall_neg_on']:.4f} | "
                    f"{m['test_targets_excluded']:.4f} | {m['match_ms_per_user']:.2f} |"
                )
                print(lines[-1], flush=True)
                model = f"{run_recipe.model}, words {'on' if words else 'off'}, budget {budget:.0%}"
                protocol = "test steps, top 10"
                records += [
                    Record(name, model, "violations, avoid off", m["violation_off"], protocol),
                    Record(
                        name,
                        model,
                        "violations, avoid on",
                        m["violation_on"],
                        protocol,
                        headline=words and budget == args.budgets[0],
                    ),
                    Record(name, model, "recall@10, avoid off", m["recall_off"], protocol),
                    Record(name, model, "recall@10, avoid on", m["recall_on"], protocol),
                    Record(
                        name, model, "test targets excluded", m["test_targets_excluded"], protocol
                    ),
                ]
    where = machine()
    body = "\n".join(
        [
            f"### {TITLE}",
            "",
            f"Measured on {where}; commit {source_commit()}; OMP_NUM_THREADS=1. Runs: seed "
            "42 (the recipes' default); statements: the attributes generator (VERSION 2, "
            "defaults) on leave-one-out steps; item text as the dataset's IDs read it; encoder "
            "all-MiniLM-L6-v2. `python benchmarks/avoid.py`.",
            "",
            "| dataset | model | words | budget | threshold | users with negatives / all | items "
            "excluded per user | violations off (lists) | violations on (lists) | R@10 off | "
            "R@10 on | R@10 off, users with negatives | R@10 on, users with negatives | test "
            "targets excluded | matching ms/user |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *lines,
            "",
            "- Violations: share of the top-10 items of users with negative statements at their "
            "test step that one of those statements matches (in brackets: share of such lists "
            "with at least one). With enforcement it is 0 by construction (asserted).",
            "- Budget: the share of validation targets the threshold may exclude (the Recall it "
            "may cost), chosen on validation steps only; the test column shows what it cost on "
            "test. Words: items holding every word of the statement's subject, or whose kind "
            "phrase means it (benchmarks/results/avoid-recall.md), are excluded too (they count "
            "toward the budget; where they alone exceed it the threshold is 1, i.e. no matching "
            "by meaning).",
            *notes,
        ]
    )
    write_experiment(
        "avoid",
        body,
        records,
        title=TITLE,
        script="benchmarks/avoid.py",
        commit=source_commit(),
        machine=where,
    )


if __name__ == "__main__":
    main()
