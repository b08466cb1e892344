"""Reader for the raw Amazon Reviews 2014 dumps (McAuley lab, ``reviews_<Cat>_5.json.gz``).

- ``reviews_<Cat>_5.json(.gz)`` (or the full ``reviews_<Cat>.json``): one JSON object per
  line with ``reviewerID, asin, overall, summary, reviewText, unixReviewTime, ...``.
- ``meta_<Cat>.json(.gz)``: one *Python dict literal* per line (single quotes), parsed with
  ``ast.literal_eval`` (never ``eval``); strict JSON lines are accepted too.

Kept per interaction: ``rating`` (overall), ``timestamp`` (unixReviewTime, seconds),
``review`` (summary and reviewText joined by a newline, what a reader of the review sees) and
``summary`` (the headline alone). Duplicate (user, item) reviews are
kept as published (de-duplication is a preprocessing step) and counted in the manifest.

Item text: ``title``, ``brand``, ``price``, ``description``; ``categories`` is the union of
all category paths, de-duplicated in first-seen order (``[["Beauty", "Makeup", "Face"],
["Beauty", "Skin Care"]]`` -> ``["Beauty", "Makeup", "Face", "Skin Care"]``): every name an
item was filed under stays searchable, and it matches the flat lists of the P5 attribute
files. ``salesRank`` goes into ``attributes``; ``related`` and ``imUrl`` are dropped (item-item
links and image URLs, not text).

Reviews alone: where there is no ``meta_<Cat>.json`` (the Musical Instruments metadata was never
published with the 5-core file) the reviews are read alone, with a warning that says so and how
to silence it (``with_meta=False``: reviews alone on purpose), and the manifest source records
``"metadata": null``. Items then have no text of their own; ``load_dataset`` and
``genrec data prepare`` give them text from their training reviews (``data/review_text.py``).

Items reviewed but absent from the metadata are kept with null text and counted
(``items_without_meta`` in the manifest source); ``strict=True`` makes them an error. Only the
metadata lines of reviewed items are parsed (an ``asin`` pre-scan skips the rest), which keeps
multi-million-line metadata files fast; duplicate metadata rows keep the first.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import polars as pl

from genrec.data.dataset import Dataset
from genrec.data.sources.rawfiles import (
    add_items_without_text,
    clean_text,
    fail,
    find_file,
    iter_lines,
    locate_file,
    parse_record,
    read_json_lines,
    require_file,
    strip_suffixes,
    whole_numbers,
)

REVIEW_SCHEMA: dict[str, pl.DataType] = {
    "reviewerID": pl.String(),
    "asin": pl.String(),
    "overall": pl.Float64(),
    "unixReviewTime": pl.Float64(),  # Float: polars rejects 1.0 as an Int64
    "summary": pl.String(),
    "reviewText": pl.String(),
}
# Finds the asin without parsing the line; a line it misses is simply parsed in full.
ASIN_FIELD = re.compile(r"""['"]asin['"]\s*:\s*['"]([^'"]+)['"]""")
ITEM_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "title": pl.String(),
    "brand": pl.String(),
    "price": pl.Float64(),
    "categories": pl.List(pl.String()),
    "description": pl.String(),
    "attributes": pl.String(),
}


def read_amazon2014(
    path: str | Path,
    *,
    meta: str | Path | None = None,
    with_meta: bool | None = None,
    category: str | None = None,
    strict: bool = False,
    name: str | None = None,
) -> Dataset:
    """Read ``reviews_<Cat>_5.json`` (+ ``meta_<Cat>.json``); ``path`` is the folder or file.

    ``with_meta``: None reads the metadata when it is there and warns when it is not; True
    requires it; False reads the reviews alone.
    """
    path = Path(path)
    hint = "pass the reviews file itself, or category= (e.g. 'Beauty') to pick one."
    pattern = f"reviews_{category}*.json" if category else "reviews_*.json"
    reviews_path, folder = locate_file(path, pattern, "Amazon 2014 review file", hint)
    category = category or _category(reviews_path)

    interactions = _read_reviews(reviews_path)
    source: dict[str, Any] = {"reader": "amazon2014", "files": [str(reviews_path)]}
    meta_path = _meta_path(folder, category, meta, with_meta, reviews_path)
    if meta_path is not None:
        needed = set(interactions["item_id"].unique().to_list())
        items, duplicates = _read_meta(meta_path, needed)
        source["files"].append(str(meta_path))
        source["duplicate_meta_rows"] = duplicates
    else:
        items = pl.DataFrame(schema=ITEM_SCHEMA)
    source["metadata"] = None if meta_path is None else str(meta_path)
    items, missing = add_items_without_text(
        interactions,
        items,
        strict=strict and meta_path is not None,
        reviews_path=reviews_path,
        meta_path=meta_path,
    )
    source["items_without_meta"] = missing
    source["duplicate_interactions"] = (
        interactions.height - interactions.select("user_id", "item_id").n_unique()
    )
    return Dataset.from_frames(name or category, interactions, items, source=source)


def _meta_path(
    folder: Path, category: str, meta: str | Path | None, with_meta: bool | None, reviews: Path
) -> Path | None:
    """The metadata file to read, or None for reviews alone (warning unless asked for)."""
    if with_meta is False:
        return None
    if meta is not None:
        return Path(meta)
    name = f"meta_{category}.json"
    if with_meta:
        return require_file(folder, name, hint="pass meta=, or with_meta=False for reviews alone.")
    found = find_file(folder, name)
    if found is None:
        warnings.warn(
            f"{reviews}: no {name}(.gz) next to it: reading the reviews alone, so items have "
            "no text of their own (`genrec data prepare` and recipes derive it from their "
            "training reviews). Pass with_meta=False to say this is intended, or meta= to name "
            "the metadata file.",
            stacklevel=2,
        )
    return found


def _category(reviews_path: Path) -> str:
    """``reviews_Beauty_5.json.gz`` -> ``Beauty``."""
    stem = strip_suffixes(reviews_path, ".json").removeprefix("reviews_")
    return stem.removesuffix("_5")


def _read_reviews(path: Path) -> pl.DataFrame:
    """``[user_id, item_id, rating, timestamp, review, summary]`` in file order."""
    frame = read_json_lines(path, REVIEW_SCHEMA, required=["reviewerID", "asin"])
    seconds = frame["unixReviewTime"].round()
    return frame.select(
        pl.col("reviewerID").alias("user_id"),
        pl.col("asin").alias("item_id"),
        pl.col("overall").alias("rating"),
        whole_numbers(frame, seconds, path, "unixReviewTime", "time").alias("timestamp"),
        pl.concat_str("summary", "reviewText", separator="\n", ignore_nulls=True).alias("review"),
        pl.col("summary"),
    ).with_columns(clean_text("review", "summary"))


def _read_meta(path: Path, needed: set[str]) -> tuple[pl.DataFrame, int]:
    """Item rows for the ``needed`` asins, and how many repeated rows were skipped."""
    rows: dict[str, dict[str, Any]] = {}
    duplicates = 0
    for line, text in iter_lines(path):
        found = ASIN_FIELD.search(text)
        if found and found.group(1) not in needed:
            continue
        record = parse_record(text, path, line, literal=True)
        asin = record.get("asin")
        if not isinstance(asin, str) or not asin:
            raise fail(path, line, "missing required field 'asin'; every line needs it.")
        if asin in rows:
            duplicates += 1
        elif asin in needed:
            rows[asin] = _item_row(record, path, line)
    return pl.DataFrame(list(rows.values()), schema=ITEM_SCHEMA, orient="row"), duplicates


def _item_row(record: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
    """One metadata record in the item-table vocabulary."""
    categories: list[str] = []
    paths = record.get("categories") or []
    if not isinstance(paths, list):
        raise fail(path, line, f"field 'categories' should be a list of paths, found {paths!r}.")
    for names in paths:
        for name in names if isinstance(names, list) else [names]:
            if isinstance(name, str) and name.strip() and name.strip() not in categories:
                categories.append(name.strip())
    price = record.get("price")
    if price is not None and not isinstance(price, int | float):
        raise fail(path, line, f"field 'price' = {price!r} is not a number.")
    rank = record.get("salesRank")
    return {
        "item_id": record["asin"],
        "title": _text(record.get("title")),
        "brand": _text(record.get("brand")),
        "price": None if price is None else float(price),
        "categories": categories or None,
        "description": _text(record.get("description")),
        "attributes": json.dumps({"salesRank": rank}, ensure_ascii=False) if rank else None,
    }


def _text(value: Any) -> str | None:
    """A text field as a stripped string; blank or missing -> None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None
