"""Reader for RecBole atomic files (``<prefix>.inter``, ``.item``, ``.user``).

Each file is tab-separated, plain or gzipped, with a typed header such as
``user_id:token  item_id:token  rating:float  timestamp:float``. Types are ``token``,
``token_seq`` (space-separated tokens), ``float`` and ``float_seq``.

Mapping to the Dataset: ``.inter`` needs ``user_id`` and ``item_id``; ``rating`` and
``timestamp`` are kept (timestamps rounded to whole seconds). In ``.item``, ``movie_title`` /
``title`` become ``title`` (kept verbatim, spaces included), ``class`` / ``genre`` /
``categories`` become ``categories`` (token_seq split on spaces), ``brand``, ``price`` and
``description`` keep their names, and every other field goes into ``attributes``. Without an
``.item`` file the items carry no text. ``.user`` is not read: the Dataset has no user features.

Users are indexed in order of first appearance in ``.inter``, items in ``.item`` row order.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from genrec.data.dataset import Dataset
from genrec.data.sources.rawfiles import (
    check_known,
    check_unique,
    clean_text,
    fail,
    find_file,
    glob_one,
    parse_number,
    read_lines,
    require_file,
    require_values,
    split_fields,
    strip_suffixes,
    whole_numbers,
)
from genrec.errors import DataError

TYPES = ("token", "token_seq", "float", "float_seq")
ITEM_FIELD_NAMES = {
    "movie_title": "title",
    "title": "title",
    "class": "categories",
    "genre": "categories",
    "categories": "categories",
    "brand": "brand",
    "price": "price",
    "description": "description",
}
INTER_FIELDS = {"user_id": "user_id", "item_id": "item_id", "rating": "rating"}


def read_recbole(
    path: str | Path, *, prefix: str | None = None, name: str | None = None
) -> Dataset:
    """Read RecBole atomic files; ``path`` is their folder or the ``.inter`` file itself."""
    path = Path(path)
    hint = "pass the folder that holds <prefix>.inter, and prefix= if there are several."
    if path.is_file():
        inter_path, folder = path, path.parent
        prefix = prefix or strip_suffixes(path, ".inter")
    elif prefix is None:
        inter_path, folder = glob_one(path, "*.inter", "RecBole .inter file", hint), path
        prefix = strip_suffixes(inter_path, ".inter")
    else:
        inter_path, folder = require_file(path, f"{prefix}.inter", hint=hint), path
    item_path = find_file(folder, f"{prefix}.item")

    interactions = _read_inter(inter_path)
    if item_path is None:
        items = interactions.select("item_id").unique(maintain_order=True)
    else:
        items = _read_items(item_path)
        check_known(interactions, "item_id", items["item_id"], inter_path, item_path)
    files = [str(p) for p in (inter_path, item_path) if p is not None]
    return Dataset.from_frames(
        name or prefix,
        interactions.drop("line"),
        items.drop("line", strict=False),
        source={"reader": "recbole", "files": files},
    )


def _read_atomic(path: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    """Rows as strings ``[line, <field>...]`` and the field types from the header."""
    lines = read_lines(path, "a typed header `name:type<TAB>...` and tab-separated rows")
    header = lines.row(0, named=True)
    types: dict[str, str] = {}
    for column in header["text"].split("\t"):
        field, _, kind = column.strip().rpartition(":")
        if not field or kind not in TYPES or field in types:
            raise fail(
                path,
                header["line"],
                f"header column {column!r} should be `name:type` with a unique name and type "
                f"one of {TYPES}.",
            )
        types[field] = kind
    rows = lines.slice(1)
    if rows.height == 0:
        raise DataError(f"{path}: the file has a header but no rows; add the data rows.")
    frame = split_fields(rows, path, "\t", list(types), "one value per header column")
    return frame.with_columns(clean_text(*types)), types


def _require(types: dict[str, str], fields: list[str], path: Path) -> None:
    missing = [f for f in fields if f not in types]
    if missing:
        raise fail(
            path,
            1,
            f"header lacks field(s) {missing}; found {list(types)}. Rename the columns "
            "(e.g. `user_id:token`) to RecBole's standard names.",
        )


def _read_inter(path: Path) -> pl.DataFrame:
    """``[line, user_id, item_id, rating?, timestamp?]``."""
    frame, types = _read_atomic(path)
    _require(types, ["user_id", "item_id"], path)
    require_values(frame, ["user_id", "item_id"], path)
    columns = [pl.col("line"), pl.col("user_id"), pl.col("item_id")]
    if "rating" in types:
        columns.append(parse_number(frame, "rating", pl.Float32(), path).alias("rating"))
    if "timestamp" in types:
        seconds = parse_number(frame, "timestamp", pl.Float64(), path).round()
        columns.append(whole_numbers(frame, seconds, path, "timestamp", "time").alias("timestamp"))
    return frame.select(columns)


def _read_items(path: Path) -> pl.DataFrame:
    """``[line, item_id, title?, categories?, ..., <other fields>]`` for ``from_frames``."""
    frame, types = _read_atomic(path)
    _require(types, ["item_id"], path)
    require_values(frame, ["item_id"], path)
    check_unique(frame, "item_id", path, "item")
    columns: list[pl.Expr | pl.Series] = [pl.col("line")]
    taken: set[str] = set()
    for field, kind in types.items():
        target = "item_id" if field == "item_id" else ITEM_FIELD_NAMES.get(field, field)
        if target in taken:  # e.g. both `title` and `movie_title`: keep the first as is
            target = field
        taken.add(target)
        if kind == "float":
            columns.append(parse_number(frame, field, pl.Float64(), path).alias(target))
        elif kind == "token_seq" and target != "title":
            columns.append(
                pl.col(field)
                .str.split(" ")
                .list.eval(pl.element().filter(pl.element() != ""))
                .alias(target)
            )
        elif kind == "float_seq":
            columns.append(pl.col(field).str.split(" ").alias(target))
        else:
            columns.append(pl.col(field).alias(target))
    return frame.select(columns)
