"""Exposure (SteerEval): which categories are common or niche, and the share of a list in one."""

from __future__ import annotations

import numpy as np
import polars as pl

from genrec.data.windows import PAD
from genrec.eval.exposure import assign, exposure_categories, share
from genrec.prefs.catalog import Catalog


def catalog(sizes: dict[str, int], n_items: int) -> Catalog:
    """Categories with ``sizes`` items each, the first items of the catalog."""
    rows = [(i, name, name.count(">") + 1) for name, n in sizes.items() for i in range(n)]
    frame = pl.DataFrame(
        rows, schema={"item": pl.Int32, "category": pl.String, "depth": pl.Int32}, orient="row"
    )
    empty = [[] for _ in range(n_items)]
    return Catalog(
        "path", frame, [None] * n_items, frame.clear(), [None] * n_items, [], empty, empty, {}
    )


def test_categories_of_20_items_to_half_the_catalog_split_in_thirds() -> None:
    sizes = {"Skin": 80, "Skin > Face": 60, "Hair": 50, "Nails": 40, "Tools": 30, "Bath": 20}
    sizes |= {"All": 150, "Rare": 19}  # most of the catalog / too few items: never measured
    found = exposure_categories(catalog(sizes, 160), 160)
    assert found.names == ["Skin", "Skin > Face", "Hair", "Nails", "Tools", "Bath"]
    assert [found.names[c] for c in found.common] == ["Skin", "Skin > Face"]
    assert [found.names[c] for c in found.niche] == ["Tools", "Bath"]
    assert found.members.sum(1).tolist() == [80, 60, 50, 40, 30, 20]
    set_layout = exposure_categories(catalog({"Drama": 25}, 60), 60)
    assert set_layout.names == ["Drama"] and not len(set_layout.common)  # one is no third


def test_share_counts_the_real_items_of_a_list_inside_its_case_s_category() -> None:
    members = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)
    lists = np.array([[0, 2, 1], [0, 2, PAD], [PAD, PAD, PAD]])
    assert share(lists, members, np.array([0, 1, 1])).tolist() == [2 / 3, 0.5, 0.0]
    drawn = assign(100, np.array([3, 5]), seed=0)
    assert set(drawn.tolist()) == {3, 5} and (drawn == assign(100, np.array([3, 5]), 0)).all()
