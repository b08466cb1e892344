"""The DATASET argument that `genrec ids build` and `genrec prefs generate` share, and the check
every recipe file the CLI reads gets."""

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
        return str(recipe_file(Path(dataset)))
    fmt = next((o.partition("=")[2] for o in overrides if o.startswith("data.format=")), None)
    data = resolve_dataset(dataset, fmt)
    return {"data": {"format": data.format, "path": data.path}}


def recipe_file(path: Path) -> Path:
    """``path``, unless it is an empty (or comment-only) YAML file: a ConfigError then, since
    every default would otherwise train SASRec on Office into runs/default."""
    import yaml

    from genrec.errors import ConfigError

    try:
        empty = path.is_file() and yaml.safe_load(path.read_text()) in (None, {})
    except yaml.YAMLError:
        return path  # load_config says where the YAML is broken
    if empty:
        raise ConfigError(
            f"recipe {path} is empty: a recipe names at least its model (model: sasrec), its "
            "data (data.path) and its run_dir; start from one of the recipes in configs/, e.g. "
            "configs/sasrec-office.yaml"
        )
    return path
