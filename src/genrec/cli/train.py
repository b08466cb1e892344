"""`genrec train` and `genrec evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from genrec.cli.console import print_whole
from genrec.config import load_config

if TYPE_CHECKING:
    from genrec.eval import EvalResult
    from genrec.training.run_dir import RunDir


def train_command(
    recipe: Annotated[Path, typer.Argument(help="YAML recipe, e.g. configs/sasrec-beauty.yaml")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value overrides, e.g. train.lr=3e-4")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
) -> None:
    """Train the recipe's model, evaluate it, and write its run directory (resumes if killed;
    a constant-rate run given a larger train.epochs continues to it). A recipe with init_from
    post-trains that run with RL."""
    from genrec.cli.arguments import recipe_file
    from genrec.recipes.recipe import Recipe

    # A typo is refused before the training programs are imported.
    config = load_config(Recipe, recipe_file(recipe), overrides or [])

    from genrec.eval import EvalResult
    from genrec.recipes.post_train import post_train
    from genrec.recipes.train import train

    program = post_train if config.init_from else train
    run = program(config, overwrite=overwrite)
    config = load_config(Recipe, run.config)  # an RL recipe's model is its start run's
    results = {name: EvalResult.load(run.eval_dir(name)) for name in ("valid", "test")}
    _print_results(run.path, results, f"{config.model} on {config.data.path}")


def evaluate_command(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories written by `genrec train`; several generative runs on the "
            "same IDs are evaluated as one ensemble (needs --out)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Directory for an ensemble's results (its members in manifest.json)."),
    ] = None,
    exclude_history: Annotated[
        bool | None,
        typer.Option(
            "--exclude-history/--keep-history",
            help="Remove history items from the ranking (default: the recipe's setting).",
        ),
    ] = None,
    decode: Annotated[
        list[str] | None,
        typer.Option(
            help="Decode the run with this decode setting changed (repeatable), e.g. "
            "--decode cold.items=text; results go to eval/<split>-<settings>."
        ),
    ] = None,
) -> None:
    """Re-evaluate a trained run (or an ensemble of runs) on validation and test through the
    shared harness."""
    from genrec.recipes.evaluate import evaluate_ensemble, final_evaluation, load_run
    from genrec.training.run_dir import RunDir

    for run_dir in run_dirs:
        _note_if_unfinished(RunDir(run_dir))
    if out is not None:
        if decode:
            raise typer.BadParameter("--decode applies to one run, not to an ensemble (--out)")
        recipe, results = evaluate_ensemble(run_dirs, out, exclude_history)
        _print_results(out, results, f"ensemble of {len(run_dirs)} runs on {recipe.data.path}")
        return
    if len(run_dirs) > 1:
        raise typer.BadParameter(
            f"{len(run_dirs)} runs are evaluated as one ensemble: name a directory for its "
            "results with --out DIR"
        )
    recipe, dataset, split, model = load_run(run_dirs[0], decode or ())
    run = RunDir(run_dirs[0])
    variant = ",".join(decode or ())
    results = final_evaluation(model, dataset, split, recipe, run, exclude_history, variant)
    _print_results(run_dirs[0], results, f"{recipe.model} on {recipe.data.path}")


def _note_if_unfinished(run: RunDir) -> None:
    """Say so when ``run`` stopped before the end of training (killed, or still running)."""
    from genrec.recipes.recipe import Recipe

    if run.read_manifest().get("status") != "training" or not run.config.is_file():
        return
    epochs = load_config(Recipe, run.config).train.epochs
    Console(stderr=True).print(
        f"run {run.path} has not finished training (epoch {len(run.epochs())} of {epochs}); "
        "evaluating its best checkpoint so far",
        style="yellow",
        markup=False,
        soft_wrap=True,  # one line, never a path cut in two
    )


def _print_results(path: Path, results: dict[str, EvalResult], title: str) -> None:
    from genrec.eval.report import PUBLISHED_COLUMNS, rich_table

    console = Console()
    print_whole(console, rich_table(results, PUBLISHED_COLUMNS, title=title, label="split"))
    console.print(f"run directory: {path}")
