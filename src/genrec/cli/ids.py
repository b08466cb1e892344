"""`genrec ids`: build semantic IDs for a dataset, and inspect built ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from genrec.cli.arguments import DatasetArgument, dataset_recipe
from genrec.config import load_config

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build_command(
    dataset: DatasetArgument,
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="key=value overrides, e.g. quantizer=rqvae rkmeans.balanced=true dedup=reassign"
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(help="Replace an existing output folder (runs trained on it then refuse it)."),
    ] = False,
) -> None:
    """Embed item text, fit a residual quantizer and save collision-free semantic IDs."""
    from genrec.recipes.build_ids import IdsConfig, build_ids

    config = load_config(IdsConfig, _recipe_for(dataset, overrides or []), overrides or [])
    ids, diagnostics = build_ids(config, overwrite=overwrite)
    _print(diagnostics, title=f"semantic IDs of {ids.metadata.get('dataset')}")
    typer.echo(
        f"wrote {config.out} ({ids.n_items} items, {ids.n_levels} tokens per item, "
        f"fingerprint {ids.fingerprint})"
    )


@app.command("inspect")
def inspect_command(
    ids_dir: Annotated[Path, typer.Argument(help="A folder written by `genrec ids build`.")],
) -> None:
    """Per-level code usage and perplexity, collisions, reconstruction error, usage plot."""
    from genrec.sid.diagnostics import plot_usage, report
    from genrec.sid.semantic_ids import SemanticIds

    ids = SemanticIds.load(ids_dir)
    saved = ids_dir / "diagnostics.json"
    diagnostics = json.loads(saved.read_text()) if saved.is_file() else {}
    quantized = ids.codes[:, : ids.quantizer.n_levels] if ids.quantizer else ids.codes
    size = max(ids.codebook_sizes[: quantized.shape[1]])
    fresh = report(quantized, size)
    if "reconstruction" in diagnostics:
        fresh["reconstruction"] = diagnostics["reconstruction"]
    _print(fresh, title=f"{ids_dir} ({ids.metadata.get('dataset')}, dedup={ids.dedup})")
    plot = plot_usage(quantized, size, ids_dir / "usage.png")
    typer.echo(f"code-usage plot: {plot}")


def _recipe_for(dataset: str, overrides: list[str]) -> str | dict[str, Any]:
    """The recipe for DATASET, writing to ``runs/ids/<name>`` unless it says otherwise."""
    recipe = dataset_recipe(dataset, overrides)
    if isinstance(recipe, dict):
        recipe["out"] = f"runs/ids/{Path(dataset).name}"
    return recipe


def _print(diagnostics: dict[str, Any], title: str) -> None:
    table = Table("level", "code usage", "perplexity", title=title)
    for level, (usage, ppl) in enumerate(
        zip(diagnostics["usage"], diagnostics["perplexity"], strict=True)
    ):
        table.add_row(str(level), f"{usage:.1%}", f"{ppl:.1f}")
    console = Console()
    console.print(table)
    skip = {"usage", "perplexity", "config"}
    for key, value in diagnostics.items():
        if key not in skip:
            console.print(f"{key}: {value}")
