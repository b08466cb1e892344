"""Do statements carry information beyond the items' IDs, and none from the target?

Compares two statement folders written for the same dataset and steps (typically the
``attributes`` generator before and after a change) on:
- new information: the share of positive statements' content words (no stop words, no
  template words, plurals folded) that are in none of the last five items' titles and
  categories (what an ID-based model sees as item text), and the share not in their full text
  (title, categories and description either);
- target words: the share of statements with a content word of the target item's text that is
  in no item before the step (a hint only the target could give);
- contrast negatives whose subject (its content words) is in the target's text, or in the text
  of an item the user bought before the step;
and shows example statements of the same steps before and after. Writes the experiment
benchmarks/results/<name>.md (and .json).

    python benchmarks/prefs_information.py data/instruments /tmp/before /tmp/after \\
        --name prefs-leakfree --command-before "..." --command-after "..."
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import polars as pl
from results import Record, dataset_name, machine, write_experiment

from genrec.data.dataset import Dataset
from genrec.prefs.attributes import TEMPLATES
from genrec.prefs.catalog import STOPWORDS
from genrec.training.run_dir import source_commit

WINDOW = 5  # the items before the step a statement may describe, as the generator reads
EXAMPLE_STEPS = 6
_WORD = re.compile(r"[a-z]+")
TEMPLATE_WORDS = frozenset(
    w for options in TEMPLATES.values() for t in options for w in _WORD.findall(t.lower())
)


def words(text: str | None) -> set[str]:
    """Lower-cased words, plurals folded ("strings" = "string")."""
    return {w.removesuffix("s") for w in _WORD.findall((text or "").lower())}


def content(text: str) -> set[str]:
    """What a statement says beyond its template: no stop or template words."""
    return words(text) - {w.removesuffix("s") for w in STOPWORDS | TEMPLATE_WORDS}


def item_words(dataset: Dataset) -> tuple[list[set[str]], list[set[str]]]:
    """Per item, the words of its title and categories, and of those and its description."""
    items = dataset.items
    cats = items["categories"].fill_null([]).list.join(" ").to_list()
    short = [words(t) | words(c) for t, c in zip(items["title"].to_list(), cats, strict=True)]
    full = [s | words(d) for s, d in zip(short, items["description"].to_list(), strict=True)]
    return short, full


def measure(dataset: Dataset, table: pl.DataFrame) -> dict[str, float]:
    """The shares this benchmark reports, for one statement table."""
    seqs = dataset.sequences()
    short, full = item_words(dataset)
    new_short = new_full = total = positives = with_new = 0
    target_hint = contrast = contrast_target = contrast_bought = 0
    rows = table.select("user", "step", "text", "polarity", "kind").iter_rows()
    for user, step, text, polarity, kind in rows:
        items = seqs.items[seqs.offsets[user] : seqs.offsets[user] + step + 1]
        before, target = [int(i) for i in items[:-1]], int(items[-1])
        said = content(text)
        if polarity == "positive":
            window = before[-WINDOW:]
            total += len(said)
            new_short += len(said - set().union(*(short[i] for i in window)))
            new = said - set().union(*(full[i] for i in window))
            new_full += len(new)
            positives += 1
            with_new += bool(new)
        history = set().union(*(full[i] for i in before))
        target_hint += bool(said & (full[target] - history))
        if kind == "contrast" and said:  # its subject's words all in one item's text
            contrast += 1
            contrast_target += said <= full[target]
            contrast_bought += any(said <= full[i] for i in before)
    return {
        "positive content words not in the last 5 titles/categories": new_short / max(total, 1),
        "positive content words not in the last 5 items' full text": new_full / max(total, 1),
        "positive statements with a word not in the last 5 items' full text": (
            with_new / max(positives, 1)
        ),
        "statements with a target word absent from the history": target_hint / len(table),
        "contrast negatives naming a subject of the target": contrast_target / max(contrast, 1),
        "contrast negatives naming a subject bought before the step": (
            contrast_bought / max(contrast, 1)
        ),
        "statements": float(len(table)),
    }


def examples(before: pl.DataFrame, after: pl.DataFrame, seed: int = 0) -> list[str]:
    """Markdown rows: the statements of a few steps, before and after."""
    steps = after.select("user", "step").unique().sort("user", "step")
    picked = steps.sample(min(EXAMPLE_STEPS, steps.height), seed=seed).sort("user", "step")
    lines = ["| user, step | before | after |", "|---|---|---|"]
    for user, step in picked.iter_rows():
        cell = [
            "<br>".join(
                t.filter((pl.col("user") == user) & (pl.col("step") == step))["text"].to_list()
            )
            for t in (before, after)
        ]
        lines.append(f"| {user}, {step} | {cell[0]} | {cell[1]} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", help="a prepared dataset folder")
    parser.add_argument("before", help="statements folder written before the change")
    parser.add_argument("after", help="statements folder written after it")
    parser.add_argument("--name", default="prefs-leakfree")
    parser.add_argument("--command-before", default="", help="how `before` was written")
    parser.add_argument("--command-after", default="", help="how `after` was written")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    dataset = Dataset.load(args.data)
    tables = {
        label: pl.read_parquet(Path(folder) / "statements.parquet")
        for label, folder in (("before", args.before), ("after", args.after))
    }
    data, where, commit = dataset_name(args.data), machine(), source_commit() or ""
    measured = {label: measure(dataset, table) for label, table in tables.items()}
    command = f"python benchmarks/prefs_information.py {args.data} {args.before} {args.after}"
    lines = [
        f"### {data}: statements before and after",
        "",
        f"Measured with `{command}` on {where} (2 cores shared with other jobs); commit {commit}.",
        f"before: `{args.command_before}`; after: `{args.command_after}`.",
        "",
        "| measure | before | after |",
        "|---|---:|---:|",
    ]
    records = []
    for metric in measured["before"]:
        values = [measured[label][metric] for label in ("before", "after")]
        shown = [f"{v:,.0f}" if metric == "statements" else f"{v:.4f}" for v in values]
        lines.append(f"| {metric} | {shown[0]} | {shown[1]} |")
        for label, value, how in zip(
            ("before", "after"), values, (args.command_before, args.command_after), strict=True
        ):
            records.append(
                Record(
                    data,
                    f"attributes, {label}",
                    metric,
                    value,
                    protocol="leave-one-out steps",
                    commit=commit,
                    machine=where,
                    headline=metric.startswith("positive content words not in the last 5 t"),
                    notes=f"{how}; then `{command}`",
                )
            )
    kinds = tables["after"].group_by("kind").len().sort("len", descending=True)
    lines += ["", "Statements by kind after: " + ", ".join(f"{k} {n:,}" for k, n in kinds.rows())]
    lines += [
        "",
        "#### Examples (the same steps)",
        "",
        *examples(tables["before"], tables["after"]),
    ]
    heard = tables["after"].filter(pl.col("kind").is_in(["use", "need", "complaint"]))
    if heard.height:
        picked = heard.sample(min(10, heard.height), seed=0).sort("user", "step")
        lines += ["", "Statements read from the window's reviews (10 at random, after):", ""]
        lines += [f"- {text} ({kind})" for text, kind in picked.select("text", "kind").rows()]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_experiment(
            args.name,
            text,
            records,
            title="Statements that carry new information, leak-free",
            script="benchmarks/prefs_information.py",
            commit=commit,
            machine=where,
        )


if __name__ == "__main__":
    main()
