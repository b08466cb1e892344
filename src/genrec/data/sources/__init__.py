"""One reader per published raw format; each returns the canonical ``Dataset``.

``read_dataset("p5", "data/amazon2014-beauty")`` picks the reader by format name; the
readers can also be imported directly. Nothing downstream ever reads a source format.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from genrec.data.dataset import Dataset
from genrec.data.sources.amazon2014 import read_amazon2014
from genrec.data.sources.amazon2023 import read_amazon2023
from genrec.data.sources.lcrec import read_lcrec
from genrec.data.sources.movielens import read_movielens
from genrec.data.sources.options import check_options
from genrec.data.sources.p5 import read_p5
from genrec.data.sources.recbole import read_recbole
from genrec.data.sources.tabular import read_tabular
from genrec.errors import DataError

READERS: dict[str, Callable[..., Dataset]] = {
    "p5": read_p5,
    "lcrec": read_lcrec,
    "recbole": read_recbole,
    "amazon2014": read_amazon2014,
    "amazon2023": read_amazon2023,
    "movielens": read_movielens,
    "tabular": read_tabular,
}


def read_dataset(fmt: str, path: str | Path, **options: Any) -> Dataset:
    """Read ``path`` with the reader registered for ``fmt``; ``options`` go to that reader
    (unknown or wrongly typed ones are a ConfigError that lists the reader's options)."""
    reader = READERS.get(fmt)
    if reader is None:
        raise DataError(f"unknown dataset format {fmt!r}; known formats: {', '.join(READERS)}.")
    check_options(fmt, reader, options)
    return reader(path, **options)


__all__ = [
    "READERS",
    "read_amazon2014",
    "read_amazon2023",
    "read_dataset",
    "read_lcrec",
    "read_movielens",
    "read_p5",
    "read_recbole",
    "read_tabular",
]
