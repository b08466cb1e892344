"""Dataset construction: what every reader goes through."""

from __future__ import annotations

import polars as pl

from genrec.data.dataset import Dataset
from genrec.data.prepare import DataConfig, load_dataset


def test_placeholder_values_are_missing_values() -> None:
    titles = ["Unknown", " n/a ", "", "NULL", "none", "Unknown Pleasures", "NaN", "Mug"]
    brands = ["Acme", "unknown", None, "N/A", "Unknown Co", "", "Acme", "none"]
    items = pl.DataFrame({"item_id": [f"i{k}" for k in range(8)], "title": titles, "brand": brands})
    inter = pl.DataFrame({"user_id": ["u"] * 8, "item_id": items["item_id"]})
    ds = Dataset.from_frames("t", inter, items, source={"reader": "test"})
    expected = [None] * 5 + ["Unknown Pleasures", None, "Mug"]
    assert ds.items["title"].to_list() == expected
    assert ds.summary()["items_with_title"] == 2
    assert ds.items["brand"].to_list() == [
        "Acme",
        None,
        None,
        None,
        "Unknown Co",
        None,
        "Acme",
        None,
    ]


def test_embedded_office_has_no_placeholder_values() -> None:
    # Three Office items are titled "Unknown" in the published files, 498 have brand "Unknown".
    ds = load_dataset(DataConfig())
    assert ds.items["title"].null_count() == 3
    assert ds.summary()["items_with_title"] == 2417
    for column in ("title", "brand", "description"):
        assert not ds.items[column].str.to_lowercase().is_in(["unknown", "n/a"]).any()
