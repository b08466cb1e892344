"""Preprocessing steps: each is a pure ``Dataset -> Dataset`` function built on ``Dataset.derive``.

``derive`` re-indexes users and items contiguously and appends the step (a small JSON-able
dict: its name and parameters) to the manifest, so a prepared dataset always says how it was
made. Chronological order is established once by ``Dataset.from_frames`` (timestamp, source
order breaking ties) and every step here keeps it: they only drop rows, never reorder them.

All steps are vectorised polars expressions over the whole interaction table; the only Python
loop is k-core's fixed-point iteration, whose passes are whole-table filters.
"""

from __future__ import annotations

from numbers import Integral
from typing import Literal

import polars as pl

from genrec.data.dataset import Dataset
from genrec.errors import ConfigError, DataError

Keep = Literal["first", "last", "all"]
_KEEP_OPTIONS = ("first", "last", "all")


def kcore(ds: Dataset, k: int = 5, user_k: int | None = None, item_k: int | None = None) -> Dataset:
    """Keep the largest subset where every user and every item has enough interactions.

    ``user_k`` / ``item_k`` default to ``k``. Counts are interactions (rows), as in the
    published Amazon "5-core" files, so run ``deduplicate`` first if repeats should count once.
    Removing a sparse item can push a user below its threshold and vice versa, so filtering
    repeats until nothing changes; each pass is one vectorised filter over the whole table.
    """
    user_k = k if user_k is None else user_k
    item_k = k if item_k is None else item_k
    for label, value in (("k", k), ("user_k", user_k), ("item_k", item_k)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ConfigError(f"kcore: {label} must be an integer >= 1, got {value!r}.")

    frame = ds.interactions
    passes = 0
    while True:
        kept = frame.filter((pl.len().over("user") >= user_k) & (pl.len().over("item") >= item_k))
        passes += 1
        # Every pass either removes rows or is the last one, so this ends within
        # n_interactions passes; real data settles in a handful.
        if kept.height == frame.height:
            break
        frame = kept

    if frame.height == 0:
        raise DataError(
            f"{ds.name}: no interactions are left after k-core with user_k={user_k}, "
            f"item_k={item_k} (input: {ds.n_users} users, {ds.n_items} items, "
            f"{ds.n_interactions} interactions); use a smaller k."
        )
    step = {
        "step": "kcore",
        "user_k": int(user_k),
        "item_k": int(item_k),
        "passes": passes,
        "removed_interactions": ds.n_interactions - frame.height,
    }
    return ds.derive(step, frame)


def deduplicate(ds: Dataset, keep: Keep = "first", *, consecutive_only: bool = False) -> Dataset:
    """Drop repeated (user, item) interactions.

    ``keep``: which occurrence survives, at its own place in the chronology: ``"first"``
    (the usual choice: the sequence records when the user first chose the item), ``"last"``
    (the most recent rating / review wins), or ``"all"`` (keep every repeat: a recorded
    no-op, so a recipe can state explicitly that repeat consumption is kept).
    ``consecutive_only``: only collapse runs of the same item in a row (``a a b a -> a b a``),
    which removes accidental double clicks but keeps genuine re-consumption.
    """
    if keep not in _KEEP_OPTIONS:
        raise ConfigError(f"deduplicate: keep must be one of {_KEEP_OPTIONS}, got {keep!r}.")
    frame = ds.interactions
    if keep == "all":
        mask = pl.lit(True)
    elif consecutive_only:
        # Rows are grouped by user in chronological order, so a run is a stretch of equal
        # (user, item) neighbours; keep its first or last row.
        direction = 1 if keep == "first" else -1
        same = (pl.col("user") == pl.col("user").shift(direction)) & (
            pl.col("item") == pl.col("item").shift(direction)
        )
        mask = ~same.fill_null(False)
    else:
        pair = pl.struct("user", "item")
        mask = pair.is_first_distinct() if keep == "first" else pair.is_last_distinct()
    kept = frame.filter(mask)
    step = {
        "step": "deduplicate",
        "keep": keep,
        "consecutive_only": consecutive_only,
        "removed_interactions": frame.height - kept.height,
    }
    # Dropping repeats never removes a pair's last occurrence, so no user or item disappears;
    # keep_unused_items preserves catalog items the reader deliberately kept.
    return ds.derive(step, kept, keep_unused_items=True)


def filter_ratings(ds: Dataset, min_rating: float) -> Dataset:
    """Keep interactions rated at least ``min_rating`` (e.g. 4 to treat only likes as signal).

    Interactions without a rating are dropped (they cannot be shown to pass). Users and items
    left with no interaction are removed and the rest re-indexed.
    """
    if not ds.has("rating"):
        raise DataError(
            f"{ds.name}: filter_ratings needs ratings, but the interactions have only "
            f"{ds.interactions.columns}; read the data with a reader that keeps them "
            "(amazon2014 `overall`, amazon2023 `rating`, movielens, or a tabular/recbole "
            "file with a rating column), or drop this step."
        )
    frame = ds.interactions
    kept = frame.filter(pl.col("rating") >= min_rating)
    if kept.height == 0:
        observed = frame["rating"].drop_nulls()
        span = f"{observed.min()}..{observed.max()}" if observed.len() else "all null"
        raise DataError(
            f"{ds.name}: no interaction has rating >= {min_rating} (ratings span {span}); "
            "lower min_rating."
        )
    step = {
        "step": "filter_ratings",
        "min_rating": float(min_rating),
        "removed_interactions": frame.height - kept.height,
    }
    return ds.derive(step, kept)
