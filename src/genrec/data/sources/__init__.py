"""One reader per published raw format; each returns the canonical ``Dataset``.

``read_dataset("p5", "data/amazon2014-beauty")`` picks the reader by format name; the
readers can also be imported directly. Nothing downstream ever reads a source format.
Format ``f`` is read by ``read_f`` in module ``genrec.data.sources.f``, imported on first use
(the readers load polars, which the CLI's start-up does without).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genrec.data.sources.options import check_options
from genrec.errors import DataError

if TYPE_CHECKING:
    from genrec.data.dataset import Dataset

FORMATS = ("p5", "lcrec", "recbole", "amazon2014", "amazon2023", "movielens", "tabular")


def reader(fmt: str) -> Callable[..., Dataset]:
    """The reader function registered for ``fmt``."""
    if fmt not in FORMATS:
        raise DataError(f"unknown dataset format {fmt!r}; known formats: {', '.join(FORMATS)}.")
    return getattr(importlib.import_module(f"{__name__}.{fmt}"), f"read_{fmt}")


def read_dataset(fmt: str, path: str | Path, **options: Any) -> Dataset:
    """Read ``path`` with the reader registered for ``fmt``; ``options`` go to that reader
    (unknown or wrongly typed ones are a ConfigError that lists the reader's options)."""
    read = reader(fmt)
    check_options(fmt, read, options)
    return read(path, **options)


def __getattr__(name: str) -> Any:
    if name == "READERS":  # format -> reader, all of them imported
        return {fmt: reader(fmt) for fmt in FORMATS}
    if name.startswith("read_") and name[5:] in FORMATS:
        return reader(name[5:])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "READERS",
    "read_amazon2014",
    "read_amazon2023",
    "read_dataset",
    "read_lcrec",
    "read_movielens",
    "read_p5",
    "read_recbole",
    "read_tabular",
    "reader",
]
