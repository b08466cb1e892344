"""The DATASET argument that `genrec ids build` and `genrec prefs generate` share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

#: The positional DATASET of commands that read a dataset (and accept a YAML recipe instead).
DatasetArgument = Annotated[
    str,
    typer.Argument(
        help="An embedded dataset name (office), a prepared dataset folder, a raw folder "
        "(with data.format=...), or a YAML recipe."
    ),
]


def dataset_recipe(dataset: str, overrides: list[str]) -> str | dict[str, Any]:
    """A YAML recipe's path as given, or the ``data`` section the DATASET argument names (a
    prepared folder, an embedded name, or a raw folder with ``data.format=`` among
    ``overrides``), so every command accepts the same names."""
    from genrec.data.prepare import resolve_dataset

    if Path(dataset).suffix in (".yaml", ".yml"):
        return dataset
    fmt = next((o.partition("=")[2] for o in overrides if o.startswith("data.format=")), None)
    data = resolve_dataset(dataset, fmt)
    return {"data": {"format": data.format, "path": data.path}}
