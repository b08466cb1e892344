"""`genrec ids`: build semantic IDs for a dataset, and inspect built ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from genrec.config import load_config
from genrec.data.prepare import resolve_dataset
from genrec.recipes.build_ids import IdsConfig, build_ids
from genrec.sid.diagnostics import plot_usage, report
from genrec.sid.semantic_ids import SemanticIds

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build_command(
    dataset: Annotated[
        str,
        typer.Argument(
            help="An embedded dataset name (office), a prepared dataset folder, a raw folder "
            "(with data.format=...), or a YAML recipe."
        ),
    ],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="key=value overrides, e.g. quantizer=rqvae rkmeans.balanced=true dedup=reassign"
        ),
    ] = None,
) -> None:
    """Embed item text, fit a residual quantizer and save collision-free semantic IDs."""
    config = load_config(IdsConfig, _recipe_for(dataset, overrides or []), overrides or [])
    ids, diagnostics = build_ids(config)
    _print(diagnostics, title=f"semantic IDs of {ids.metadata.get('dataset')}")
    typer.echo(f"wrote {config.out} ({ids.n_items} items, {ids.n_levels} tokens per item)")


@app.command("inspect")
def inspect_command(
    ids_dir: Annotated[Path, typer.Argument(help="A folder written by `genrec ids build`.")],
) -> None:
    """Per-level code usage and perplexity, collisions, reconstruction error, usage plot."""
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
    """Turn the positional DATASET into a recipe file or a data section."""
    if Path(dataset).suffix in (".yaml", ".yml"):
        return dataset
    fmt = next((o.partition("=")[2] for o in overrides if o.startswith("data.format=")), None)
    data = resolve_dataset(dataset, fmt)
    return {
        "data": {"format": data.format, "path": data.path},
        "out": f"runs/ids/{Path(dataset).name}",
    }


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
