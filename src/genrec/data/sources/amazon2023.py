"""Reader for Amazon Reviews 2023 (McAuley lab, ``<Category>.jsonl`` + ``meta_<Category>.jsonl``).

- ``<Category>.jsonl(.gz)``: one review per line with ``rating, title, text, asin,
  parent_asin, user_id, timestamp`` (milliseconds), ...
- ``meta_<Category>.jsonl(.gz)``: one product per line with ``main_category, title,
  features [..], description [..], price (number, string or null), store, categories [..],
  details {..}, parent_asin``, ...

Items are identified by ``parent_asin`` (one row per product, not per colour or size), as the
2023 benchmark splits do and as the metadata is keyed. Kept per interaction:
``rating``, ``timestamp`` (ms -> whole seconds), ``review`` (review title and text joined
by a newline) and ``summary`` (the review title alone). Duplicate (user, item) reviews are
kept as published and counted.

Item text: ``title``; ``store`` -> ``brand``; ``price`` parsed from numbers or strings like
``"$12.99"`` (anything else -> null); ``categories`` as given (empty -> null); the
``description`` paragraphs joined by a space; ``main_category``, ``features`` and ``details``
go into ``attributes``. Both files are read by polars, vectorised, and only the metadata of
reviewed items is collected. Items reviewed but absent from the metadata are kept with null
text and counted (``items_without_meta``); ``strict=True`` makes them an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from genrec.data.dataset import Dataset
from genrec.data.sources.rawfiles import (
    add_items_without_text,
    clean_text,
    locate_file,
    read_json_lines,
    require_file,
    strip_suffixes,
    whole_numbers,
)

META_SCHEMA: dict[str, pl.DataType] = {
    "parent_asin": pl.String(),
    "main_category": pl.String(),
    "title": pl.String(),
    "features": pl.List(pl.String()),
    "description": pl.List(pl.String()),
    "price": pl.String(),  # numbers read as their text: the field mixes numbers and strings
    "store": pl.String(),
    "categories": pl.List(pl.String()),
    "details": pl.String(),  # an object of varying keys, kept as its JSON text
}


def read_amazon2023(
    path: str | Path,
    *,
    meta: str | Path | None = None,
    with_meta: bool = True,
    category: str | None = None,
    strict: bool = False,
    name: str | None = None,
) -> Dataset:
    """Read ``<Category>.jsonl`` (+ ``meta_<Category>.jsonl``); ``path`` is folder or file."""
    path = Path(path)
    hint = "pass the review file itself, or category= (e.g. 'All_Beauty') to pick one."
    reviews_path, folder = locate_file(
        path,
        "*.jsonl",
        "review file",
        hint,
        name=f"{category}.jsonl" if category else None,
        exclude_prefix="meta_",
    )
    category = category or strip_suffixes(reviews_path, ".jsonl")

    interactions = _read_reviews(reviews_path)
    source: dict[str, Any] = {"reader": "amazon2023", "files": [str(reviews_path)]}
    meta_path = None
    if with_meta:
        hint = "pass meta= or with_meta=False."
        meta_path = (
            Path(meta) if meta else require_file(folder, f"meta_{category}.jsonl", hint=hint)
        )
        items, duplicates = _read_meta(meta_path, interactions["item_id"].unique())
        source["files"].append(str(meta_path))
        source["duplicate_meta_rows"] = duplicates
    else:
        items = pl.DataFrame(schema={"item_id": pl.String})
    items, missing = add_items_without_text(
        interactions,
        items,
        strict=strict and with_meta,
        reviews_path=reviews_path,
        meta_path=meta_path,
    )
    source["items_without_meta"] = missing
    source["duplicate_interactions"] = (
        interactions.height - interactions.select("user_id", "item_id").n_unique()
    )
    return Dataset.from_frames(name or category, interactions, items, source=source)


def _read_reviews(path: Path) -> pl.DataFrame:
    """``[user_id, item_id, rating, timestamp (s), review, summary]`` in file order."""
    schema: dict[str, pl.DataType] = {
        "user_id": pl.String(),
        "parent_asin": pl.String(),
        "rating": pl.Float64(),
        "timestamp": pl.Float64(),  # exact for ms values (< 2**53); polars rejects 1.0 as Int64
        "title": pl.String(),
        "text": pl.String(),
    }
    frame = read_json_lines(path, schema, required=["user_id", "parent_asin"])
    seconds = (frame["timestamp"] / 1000).floor()
    return frame.select(
        "user_id",
        pl.col("parent_asin").alias("item_id"),
        "rating",
        whole_numbers(frame, seconds, path, "timestamp", "time in ms").alias("timestamp"),
        pl.concat_str("title", "text", separator="\n", ignore_nulls=True).alias("review"),
        pl.col("title").alias("summary"),
    ).with_columns(clean_text("review", "summary"))


def _read_meta(path: Path, needed: pl.Series) -> tuple[pl.DataFrame, int]:
    """Item rows for the ``needed`` ids (first row per id) and the count of repeated rows."""
    frame = read_json_lines(
        path,
        META_SCHEMA,
        required=["parent_asin"],
        where=pl.col("parent_asin").is_in(needed.implode()),
    )
    unique = frame.unique("parent_asin", keep="first", maintain_order=True)
    attributes = pl.concat_str(
        pl.struct("main_category", "features").struct.json_encode().str.strip_suffix("}"),
        pl.lit(',"details":'),
        pl.col("details").fill_null("null"),
        pl.lit("}"),
    )
    items = unique.select(
        pl.col("parent_asin").alias("item_id"),
        "title",
        pl.col("store").alias("brand"),
        pl.col("price")
        .str.replace_all(r"[$,\s]", "")
        .cast(pl.Float64, strict=False)
        .alias("price"),
        pl.when(pl.col("categories").list.len() > 0).then("categories").alias("categories"),
        pl.col("description").list.join(" ").alias("description"),
        attributes.alias("attributes"),
    ).with_columns(clean_text("title", "brand", "description"))
    return items, frame.height - unique.height
