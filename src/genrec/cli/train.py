"""`genrec train` and `genrec evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genrec.config import load_config
from genrec.eval.report import PUBLISHED_COLUMNS, rich_table
from genrec.recipes.evaluate import final_evaluation, load_run
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train
from genrec.training.run_dir import RunDir


def train_command(
    recipe: Annotated[Path, typer.Argument(help="YAML recipe, e.g. configs/sasrec-beauty.yaml")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value overrides, e.g. train.lr=3e-4")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
) -> None:
    """Train the recipe's model, evaluate it, and write its run directory (resumes if killed)."""
    config = load_config(Recipe, recipe, overrides or [])
    run = train(config, overwrite=overwrite)
    _print_results(run)


def evaluate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `genrec train`.")],
    exclude_history: Annotated[
        bool | None,
        typer.Option(
            "--exclude-history/--keep-history",
            help="Remove history items from the ranking (default: the recipe's setting).",
        ),
    ] = None,
) -> None:
    """Re-evaluate a trained run on validation and test through the shared harness."""
    recipe, _, split, model = load_run(run_dir)
    final_evaluation(model, split, recipe, RunDir(run_dir), exclude_history=exclude_history)
    _print_results(RunDir(run_dir), exclude_history)


def _print_results(run: RunDir, exclude_history: bool | None = None) -> None:
    from genrec.eval import EvalResult

    console = Console()
    recipe = load_config(Recipe, run.config)
    suffix = (
        "-exclude-history"
        if exclude_history is not None and exclude_history != recipe.eval.exclude_history
        else ""
    )
    results = {name: EvalResult.load(run.eval_dir(name + suffix)) for name in ("valid", "test")}
    console.print(
        rich_table(
            results, columns=PUBLISHED_COLUMNS, title=f"{recipe.model} on {recipe.data.path}"
        )
    )
    console.print(f"run directory: {run.path}")
