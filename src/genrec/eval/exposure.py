"""Exposure, as SteerEval measures steerability: the share of a top-10 list inside a category,
without a statement, with "Looking for <category>" and with "Avoid <category>".

A statement that steers moves the share up (looking for) or down (avoid). SteerEval found
steering works for common attributes and fails for niche ones, so categories are measured in two
classes (``exposure_categories``): common (the top third by item count) and niche (the bottom
third), among the categories at least ``MIN_ITEMS`` items share and at most ``MAX_SHARE`` of the
catalog holds (a category of most items cannot be steered towards). A category is an Amazon
path prefix ("Skin Care > Face") or a MovieLens genre (``genrec.prefs.catalog``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from genrec.data.windows import PAD
from genrec.prefs.catalog import PATH_SEPARATOR, Catalog

#: Items a category needs before it is measured (a rarer one is a handful of items to hit).
MIN_ITEMS = 20
#: Largest share of the catalog a measured category may hold.
MAX_SHARE = 0.5


@dataclass(frozen=True)
class Categories:
    """The measured categories: ``names [C]`` (as a statement names them), ``members [C,
    n_items]`` and the indices of the ``common`` and ``niche`` ones."""

    names: list[str]
    members: np.ndarray
    common: np.ndarray
    niche: np.ndarray


def exposure_categories(
    catalog: Catalog, n_items: int, min_items: int = MIN_ITEMS, max_share: float = MAX_SHARE
) -> Categories:
    """The catalog's categories of ``min_items`` to ``max_share * n_items`` items, split in
    thirds by item count (ties by name); none on a catalog without categories."""
    sizes = (
        catalog.categories.group_by("category")
        .agg(n=pl.col("item").n_unique())
        .filter((pl.col("n") >= min_items) & (pl.col("n") <= max_share * n_items))
        .sort(["n", "category"], descending=[True, False])
    )
    paths = sizes["category"].to_list()
    members = np.zeros((len(paths), n_items), dtype=bool)
    index = pl.DataFrame(
        {"category": paths, "index": np.arange(len(paths))},
        schema={"category": pl.String, "index": pl.Int64},
    )
    rows = catalog.categories.join(index, on="category")
    members[rows["index"].to_numpy(), rows["item"].to_numpy()] = True
    third = len(paths) // 3
    return Categories(
        # the last two levels of a path, as the attributes generator words categories
        [PATH_SEPARATOR.join(p.split(PATH_SEPARATOR)[-2:]) for p in paths],
        members,
        np.arange(third),
        np.arange(len(paths) - third, len(paths)),
    )


def assign(n_cases: int, choices: np.ndarray, seed: int = 0) -> np.ndarray:
    """``[n_cases]``: one of ``choices`` per case, drawn with ``seed`` (every category gets
    users alike, whatever their histories)."""
    return np.random.default_rng(seed).choice(choices, size=n_cases)


def share(lists: np.ndarray, members: np.ndarray, category: np.ndarray) -> np.ndarray:
    """``[N]``: the share of each list ``lists [N, k]`` (``PAD`` where short) inside its case's
    ``category [N]`` (a row of ``members [C, n_items]``)."""
    real = lists != PAD
    inside = members[category[:, None], np.where(real, lists, 0)] & real
    return inside.sum(1) / np.maximum(real.sum(1), 1)
