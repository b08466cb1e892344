"""`genrec data`: list, download, prepare (import raw files) and inspect datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Column, Table

from genrec.cli.console import print_whole
from genrec.data.download import download, list_datasets
from genrec.data.sources import FORMATS

if TYPE_CHECKING:
    from genrec.data.dataset import Dataset

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """Datasets genrec knows how to download."""
    print_whole(Console(), datasets_table())


def datasets_table() -> Table:
    """One row per downloadable dataset. Names are what `genrec data download` takes, so their
    column is as wide as the longest and folds (never cuts) only on a very narrow terminal."""
    entries = list_datasets()
    table = Table(
        Column("name", width=max(len(e.name) for e in entries), overflow="fold"),
        "reader format",
        Column("files", overflow="fold"),
    )
    for entry in entries:
        table.add_row(entry.name, entry.format, "\n".join(f.filename for f in entry.files))
    return table


@app.command("download")
def download_command(
    name: Annotated[str, typer.Argument(help="Dataset name from `genrec data list`.")],
    cache_dir: Annotated[Path | None, typer.Option(help="Where to store the files.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Mirror to fetch from instead.")] = None,
) -> None:
    """Download a public dataset (resumes partial downloads, checks sizes and checksums)."""
    path = download(name, cache_dir, base_url=base_url)
    typer.echo(f"downloaded {name} to {path}")


@app.command("prepare")
def prepare_command(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help=f"One of: {', '.join(FORMATS)}.")],
    path: Annotated[Path, typer.Argument(help="Folder (or file) holding the raw files.")],
    out: Annotated[Path, typer.Option(help="Folder to write the canonical dataset to.")],
    k: Annotated[int, typer.Option("--kcore", help="Iterative k-core (0 = none).")] = 0,
    option: Annotated[
        list[str] | None, typer.Option(help="Reader option key=value (repeatable).")
    ] = None,
) -> None:
    """Read raw files in a published format into a canonical dataset folder (items without
    text of their own get it from their leave-one-out training reviews, see `data info`)."""
    from genrec.data.prepare import DataConfig, load_dataset

    options = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r}: expected key=value", param_hint="--option")
        options[key] = yaml.safe_load(value)
    dataset = load_dataset(DataConfig(format=fmt, path=str(path), options=options, kcore=k))
    dataset.save(out)
    _print_summary(dataset)
    typer.echo(f"wrote {out}")


@app.command("info")
def info_command(
    dataset_name: Annotated[
        str,
        typer.Argument(
            metavar="DATASET",
            help="A prepared dataset folder or an embedded dataset name (office).",
        ),
    ],
) -> None:
    """Counts, sequence statistics, source and preprocessing steps of a dataset."""
    from genrec.data.prepare import load_dataset, resolve_dataset

    dataset = load_dataset(resolve_dataset(dataset_name))
    _print_summary(dataset)
    manifest = dataset.manifest
    typer.echo(json.dumps({k: manifest.get(k) for k in ("source", "steps")}, indent=2))


def _print_summary(dataset: Dataset) -> None:
    table = Table("property", "value", title=dataset.name)
    for key, value in dataset.summary().items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    Console().print(table)
