"""From a data config to a ready Dataset: read the source, then preprocess, as recipes need."""

from __future__ import annotations

from dataclasses import field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from genrec.config import bounded, configclass
from genrec.data.dataset import Dataset
from genrec.data.holdout import RLHoldout, hold_out
from genrec.data.preprocess import deduplicate, kcore
from genrec.data.review_text import check_review_text, item_text_from_reviews
from genrec.data.sources import FORMATS, read_dataset
from genrec.data.splits import Split, SplitName, split_by
from genrec.errors import ConfigError, DataError

#: Datasets shipped inside the package: name -> (reader format, reader options).
EMBEDDED: dict[str, tuple[str, dict[str, Any]]] = {
    "office": ("lcrec", {"prefix": "Office_Products"}),
}


@configclass
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
    kcore: int = bounded(0, ge=0)
    # Repeated (user, item) pairs: keep all (the published protocol), or only the first / last.
    dedup: Literal["all", "first", "last"] = "all"
    split: SplitName = "leave_one_out"
    # The published protocol gives a model the 20 most recent items before the target.
    max_history: int = bounded(20, ge=1)
    # Items with no text of their own (e.g. Amazon 2014 reviews read without metadata) get a
    # title and description from their reviews, reading only the training interactions of
    # `split` (data/review_text.py); false leaves them without text.
    review_text: bool = True
    # The slice of the training data kept back from supervised training for RL post-training
    # to roll out on (genrec.data.holdout): none, last_transition or users. An RL recipe takes
    # it from its init_from run, which must have held out the same slice.
    rl_holdout: RLHoldout = field(default_factory=RLHoldout)


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
    check_review_text(dataset, config.split)  # text a prepared folder derived already
    if config.review_text and dataset.has("review"):
        # Last, on the final interactions: a row removed earlier could change the targets.
        dataset = item_text_from_reviews(dataset, config.split)
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
            f"(data.format=FORMAT; one of {', '.join(FORMATS)})"
        )
    return DataConfig(format=fmt, path=argument)


def make_split(dataset: Dataset, config: DataConfig) -> Split:
    """The train / validation / test split ``config`` asks for, with its RL slice held out of
    the training data (``config.rl_holdout``)."""
    return hold_out(split_by(dataset, config.split, config.max_history), config.rl_holdout)
