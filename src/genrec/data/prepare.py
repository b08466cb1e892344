"""From a data config to a ready Dataset: read the source, then preprocess, as recipes need."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from genrec.data.dataset import Dataset
from genrec.data.preprocess import deduplicate, kcore
from genrec.data.sources import READERS, read_dataset
from genrec.data.splits import Split, leave_one_out, temporal_cutoffs, temporal_split
from genrec.errors import ConfigError, DataError

#: Datasets shipped inside the package: name -> (reader format, reader options).
EMBEDDED: dict[str, tuple[str, dict[str, Any]]] = {
    "office": ("lcrec", {"prefix": "Office_Products"}),
}


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is prepared and split."""

    # Reader format (p5, lcrec, recbole, amazon2014, amazon2023, movielens, tabular), "genrec"
    # for a folder written by Dataset.save, or "embedded" for a dataset shipped in the package.
    format: str = "embedded"
    # Folder (or file) to read; for "embedded", the dataset's name.
    path: str = "office"
    # Extra keyword options for the reader (e.g. {prefix: Office_Products}).
    options: dict[str, Any] = field(default_factory=dict)
    # Iterative k-core on users and items; 0 keeps all (the benchmark files are 5-core already).
    kcore: int = 0
    # Repeated (user, item) pairs: keep all (the published protocol), or only the first / last.
    dedup: Literal["all", "first", "last"] = "all"
    split: Literal["leave_one_out", "temporal"] = "leave_one_out"
    # The published protocol gives a model the 20 most recent items before the target.
    max_history: int = 20


def load_dataset(config: DataConfig) -> Dataset:
    """Read and preprocess the dataset ``config`` describes."""
    if config.format == "embedded":
        dataset = load_embedded(config.path)
    elif config.format == "genrec":
        dataset = Dataset.load(config.path)
    else:
        dataset = read_dataset(config.format, Path(config.path), **config.options)
    if config.dedup != "all":
        dataset = deduplicate(dataset, keep=config.dedup)
    if config.kcore > 0:
        dataset = kcore(dataset, config.kcore)
    return dataset


def load_embedded(name: str = "office") -> Dataset:
    """A dataset shipped inside the package (``EMBEDDED``), by name: data every install has."""
    if name not in EMBEDDED:
        raise DataError(
            f"no embedded dataset {name!r} (data.path with data.format=embedded); "
            f"known: {sorted(EMBEDDED)}"
        )
    fmt, options = EMBEDDED[name]
    folder = resources.files("genrec.data") / "embedded" / name
    return read_dataset(fmt, Path(str(folder)), name=name, **options)


def resolve_dataset(argument: str, fmt: str | None = None) -> DataConfig:
    """The data a command's DATASET argument names, so every command accepts the same names:
    a folder written by `genrec data prepare` (it holds manifest.json), an embedded dataset's
    name, or a raw folder read with reader format ``fmt``."""
    path = Path(argument)
    if (path / "manifest.json").is_file():
        return DataConfig(format="genrec", path=argument)
    if argument in EMBEDDED:
        return DataConfig(format="embedded", path=argument)
    if not path.exists():
        raise ConfigError(
            f"{argument}: no such dataset folder or embedded dataset (embedded: {sorted(EMBEDDED)})"
        )
    if fmt is None:
        raise ConfigError(
            f"{argument} is a raw folder, not a prepared dataset: import it once with "
            f"`genrec data prepare FORMAT {argument} --out DIR`, or name its reader format "
            f"(data.format=FORMAT; one of {', '.join(READERS)})"
        )
    return DataConfig(format=fmt, path=argument)


def make_split(dataset: Dataset, config: DataConfig) -> Split:
    """The train / validation / test split ``config`` asks for."""
    if config.split == "temporal":
        valid_start, test_start = temporal_cutoffs(dataset)
        return temporal_split(dataset, valid_start, test_start, config.max_history)
    return leave_one_out(dataset, config.max_history)
