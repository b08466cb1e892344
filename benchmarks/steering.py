"""Steering a generator with statements: one finished run, its test users under every statement
protocol its final evaluation wrote (eval/test-<protocol>), each against the same model without
statements, as paired per-user differences with a bootstrap 95% CI.

    python benchmarks/steering.py runs/decoder-only-office --name steering-office
    python benchmarks/steering.py runs/b --name b-vs-a --against runs/a   # + run b minus run a

The protocols that look at the target (oracle, describes_target, category) are upper bounds,
always printed beside leak_free. Writes benchmarks/results/<name>.md and .json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl
from results import Record, machine, write_experiment

from genrec.config import load_config
from genrec.eval.metrics import paired_bootstrap, per_user_metrics
from genrec.prefs.protocols import PROTOCOLS
from genrec.recipes.recipe import Recipe
from genrec.training.run_dir import source_commit

TITLE = "Steering with statements (benchmarks/steering.py)"
METRICS = ("recall@10", "ndcg@10")


def per_user(run: Path, folder: str) -> pl.DataFrame:
    """Per test user (sorted by user): recall@10 and ndcg@10 of ``eval/<folder>``."""
    frame = pl.read_parquet(run / "eval" / folder / "per_user.parquet").sort("user")
    values = per_user_metrics(frame["rank"].to_numpy(), ks=(10,))
    return frame.select("user").with_columns(**{m: values[m] for m in METRICS})


def against(run: Path, other: Path, chosen: str) -> list[str]:
    """Markdown rows: ``run`` minus ``other`` per protocol, paired on the same test users."""
    theirs = json.loads((other / "manifest.json").read_text())["prefs"]["protocol"]
    rows = [
        f"Against `{other}` (same test users; paired per-user difference, this run minus it):",
        "",
        "| statements at test | Recall@10 | diff [95% CI] | NDCG@10 | diff [95% CI] |",
        "|---|---:|---|---:|---|",
    ]
    for name in (None, *PROTOCOLS):
        folders = [
            "test-no-prefs" if name is None else "test" if name == own else f"test-{name}"
            for own in (chosen, theirs)
        ]
        if not all(
            (r / "eval" / f / "per_user.parquet").is_file()
            for r, f in zip((run, other), folders, strict=True)
        ):
            continue
        mine, base = per_user(run, folders[0]), per_user(other, folders[1])
        assert mine["user"].equals(base["user"]), "the runs must cover the same test users"
        cells = []
        for metric in METRICS:
            diff, low, high = paired_bootstrap(mine[metric].to_numpy(), base[metric].to_numpy())
            cells.append(f"{float(mine[metric].mean()):.4f} vs {float(base[metric].mean()):.4f} "
                         f"| {diff:+.4f} [{low:+.4f}, {high:+.4f}]")  # fmt: skip
        rows.append(f"| {name or 'none'} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished run trained with prefs.statements")
    parser.add_argument("--name", required=True, help="the experiment's file name")
    parser.add_argument(
        "--against", type=Path, help="another run on the same data: paired differences to it"
    )
    args = parser.parse_args()
    manifest = json.loads((args.run / "manifest.json").read_text())
    chosen = manifest["prefs"]["protocol"]
    none = per_user(args.run, "test-no-prefs")
    rows, records = [], []
    dataset = manifest.get("dataset", {}).get("name", "?")
    for name, entry in PROTOCOLS.items():
        folder = "test" if name == chosen else f"test-{name}"
        if not (args.run / "eval" / folder / "per_user.parquet").is_file():
            continue
        told = per_user(args.run, folder)
        assert told["user"].equals(none["user"]), "the protocols must cover the same users"
        cells = []
        for metric in METRICS:
            diff, low, high = paired_bootstrap(told[metric].to_numpy(), none[metric].to_numpy())
            mean = float(told[metric].mean())
            ratio = mean / float(none[metric].mean())
            cells.append(f"{mean:.4f} | {ratio:.2f}x | {diff:+.4f} [{low:+.4f}, {high:+.4f}]")
            records.append(
                Record(dataset, f"{args.run.name}, {name}", metric, round(mean, 4),
                       f"test, full ranking, paired diff to no statements {diff:+.4f} "
                       f"[{low:+.4f}, {high:+.4f}]", headline=name == "describes_target")
            )  # fmt: skip
        kind = "upper bound (looks at the target)" if entry.sees_target else "leak-free"
        rows.append(f"| {name} ({entry.about}; {kind}) | " + " | ".join(cells) + " |")
    base = {m: float(none[m].mean()) for m in METRICS}
    prefs = load_config(Recipe, args.run / "config.yaml").prefs
    selected = " and ".join(f"`{name}`" for name in (chosen, *prefs.also_valid))
    lines = [
        f"Run `{args.run}` ({dataset}, {len(none)} test users, commit {manifest['commit']}), "
        f"selected on {selected} validation; trained with prefs.hindsight={prefs.hindsight}, "
        f"context={prefs.context}, drop={prefs.drop}, oracle_rate={prefs.oracle_rate}.",
        "",
        f"Without statements: Recall@10 {base['recall@10']:.4f}, NDCG@10 {base['ndcg@10']:.4f}.",
        "",
        "| statements at test | Recall@10 | vs none | paired diff [95% CI] | NDCG@10 | vs none "
        "| paired diff [95% CI] |",
        "|---|---:|---:|---|---:|---:|---|",
        *rows,
    ]
    if args.against:
        lines += ["", *against(args.run, args.against, chosen)]
    path = write_experiment(
        args.name, "\n".join(lines), records, title=TITLE, script="benchmarks/steering.py",
        commit=source_commit(), machine=machine(),
    )  # fmt: skip
    print(path.read_text())


if __name__ == "__main__":
    main()
