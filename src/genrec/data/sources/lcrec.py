"""Reader for the LC-Rec / UniTok / APAO layout (``<prefix>.inter.json`` + ``.item.json``).

Files in the folder, each plain or gzipped (``<prefix>`` e.g. ``Office_Products``):

- ``<prefix>.inter.json``: ``{"<user_idx>": [item_idx, ...]}``, oldest item first.
- ``<prefix>.item.json``: ``{"<item_idx>": {"title", "description", "brand", ["categories"]}}``;
  ``categories`` may be a list or one comma-separated string (APAO).
- ``<prefix>.item_index.json`` / ``<prefix>.user_index.json`` (optional): ``{ASIN: idx}`` and
  ``{reviewerID: idx}``; when present the string ids are restored, else the indices (as
  strings) are the ids.

Users and items are indexed in the source's index order, so ``Dataset`` indices equal the
LC-Rec indices whenever every item occurs in an interaction. Comma-separated categories are
split on ``","`` with or without a following space (published copies differ); Amazon names
that themselves contain a comma (e.g. ``Calendars, Planners & Personal Organizers``) come out
as two entries, because the string gives no way to tell. Empty strings become null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from genrec.data.dataset import Dataset
from genrec.data.sources.rawfiles import (
    clean_text,
    find_file,
    glob_one,
    load_json,
    require_file,
    strip_suffixes,
)
from genrec.errors import DataError

ITEM_FIELDS = ("title", "description", "brand", "categories")


def read_lcrec(path: str | Path, *, prefix: str | None = None, name: str | None = None) -> Dataset:
    """Read an LC-Rec folder; ``prefix`` picks the dataset when the folder holds several."""
    folder = Path(path)
    hint = "pass the folder that holds <prefix>.inter.json, and prefix= if there are several."
    if prefix is None:
        inter_path = glob_one(folder, "*.inter.json", "interaction file", hint)
        prefix = strip_suffixes(inter_path, ".inter.json")
    else:
        inter_path = require_file(folder, f"{prefix}.inter.json", hint=hint)
    item_path = require_file(folder, f"{prefix}.item.json", hint=hint)
    item_index = find_file(folder, f"{prefix}.item_index.json")
    user_index = find_file(folder, f"{prefix}.user_index.json")

    interactions = _read_inter(inter_path)
    items = _read_items(item_path)
    unknown = interactions.filter(~pl.col("item").is_in(items["item"].implode()))
    if unknown.height:
        row = unknown.row(0, named=True)
        raise DataError(
            f"{inter_path}: user {row['user']} lists item {row['item']}, which has no entry in "
            f"{item_path} ({unknown['item'].n_unique()} unknown in all); add the item or "
            "remove it from the sequence."
        )
    user_ids = _ids(user_index, interactions["user"].unique(), "user") if user_index else None
    item_ids = _ids(item_index, items["item"], "item") if item_index else None
    interactions = interactions.with_columns(
        _to_id("user", user_ids).alias("user_id"), _to_id("item", item_ids).alias("item_id")
    )
    items = items.with_columns(_to_id("item", item_ids).alias("item_id")).drop("item")

    files = [str(p) for p in (inter_path, item_path, item_index, user_index) if p is not None]
    return Dataset.from_frames(
        name or prefix,
        interactions.select("user_id", "item_id"),
        items,
        source={"reader": "lcrec", "files": files},
    )


def _int_keys(keys: list[str], path: Path, what: str) -> pl.Series:
    """JSON object keys as Int64 indices; a non-integer key names itself."""
    parsed = pl.Series(keys, dtype=pl.String).cast(pl.Int64, strict=False)
    if parsed.null_count():
        bad = keys[parsed.is_null().arg_true()[0]]
        raise DataError(f"{path}: {what} key {bad!r} is not an integer index; fix the key.")
    return parsed


def _read_inter(path: Path) -> pl.DataFrame:
    """``[user, item]`` Int64 indices, users ascending, each sequence in source order."""
    data = load_json(path)
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a non-empty object {{user_idx: [item_idx, ...]}}.")
    users = _int_keys(list(data), path, "user")
    try:
        frame = pl.DataFrame(
            {"user": users, "item": list(data.values())},
            schema={"user": pl.Int64, "item": pl.List(pl.Int64)},
        )
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        for key, seq in data.items():
            if not (isinstance(seq, list) and all(type(i) is int for i in seq)):
                raise DataError(
                    f"{path}: user {key!r} should map to a list of integer item indices, "
                    f"found {str(seq)[:80]}; fix that entry."
                ) from None
        raise
    empty = frame.filter(pl.col("item").list.len() == 0)
    if empty.height:
        raise DataError(f"{path}: user {empty['user'][0]} has no items; remove the entry.")
    return frame.sort("user", maintain_order=True).explode("item")


def _read_items(path: Path) -> pl.DataFrame:
    """Item table ``[item, title, description, brand, categories, attributes]`` by index."""
    data = load_json(path)
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a non-empty object {{item_idx: {{title, ...}}}}.")
    columns: dict[str, list[Any]] = {f: [] for f in (*ITEM_FIELDS, "attributes")}
    for key, record in data.items():
        if not isinstance(record, dict):
            raise DataError(f"{path}: item {key!r} should be an object, found {record!r}.")
        for field in ITEM_FIELDS:
            columns[field].append(record.get(field))
        extra = {k: v for k, v in record.items() if k not in ITEM_FIELDS}
        columns["attributes"].append(json.dumps(extra, ensure_ascii=False) if extra else None)
    categories = [
        [c.strip() for c in v.split(",") if c.strip()] if isinstance(v, str) else v
        for v in columns.pop("categories")
    ]
    try:
        frame = pl.DataFrame(
            {"item": _int_keys(list(data), path, "item"), **columns, "categories": categories},
            schema_overrides={
                "title": pl.String,
                "description": pl.String,
                "brand": pl.String,
                "attributes": pl.String,
                "categories": pl.List(pl.String),
            },
        )
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise DataError(
            f"{path}: item fields must be strings (categories a list or string): {exc}"
        ) from exc
    frame = frame.with_columns(clean_text("title", "description", "brand"))
    return frame.sort("item")


def _ids(path: Path, needed: pl.Series, what: str) -> pl.DataFrame:
    """``[<what>, id]``: the string id of each needed index, from ``{string id: idx}``."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected an object {{{what} id: index}}.")
    try:
        frame = pl.DataFrame(
            {"id": list(data), what: list(data.values())},
            schema={"id": pl.String, what: pl.Int64},
        )
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"{path}: every value must be an integer {what} index ({exc}).") from exc
    dup = frame.filter(pl.col(what).is_duplicated())
    if dup.height:
        raise DataError(
            f"{path}: {what} index {dup[what][0]} is given to several ids "
            f"({dup.filter(pl.col(what) == dup[what][0])['id'].to_list()}); keep one."
        )
    missing = needed.filter(~needed.is_in(frame[what].implode()))
    if missing.len():
        raise DataError(
            f"{path}: {what} index {missing[0]} has no id here ({missing.len()} missing in all); "
            "add it or remove the index file to use the indices as ids."
        )
    return frame


def _to_id(column: str, ids: pl.DataFrame | None) -> pl.Expr:
    """The string id for an index column: looked up in ``ids`` or the index itself."""
    if ids is None:
        return pl.col(column).cast(pl.String)
    return pl.col(column).replace_strict(ids[column], ids["id"], return_dtype=pl.String)
