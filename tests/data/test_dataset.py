"""Dataset construction: what every reader goes through."""

from __future__ import annotations

import polars as pl

from genrec.data.dataset import Dataset
from genrec.data.prepare import DataConfig, load_dataset


def test_placeholder_titles_are_missing_titles() -> None:
    titles = ["Unknown", " n/a ", "", "NULL", "none", "Unknown Pleasures", "NaN", "Mug"]
    items = pl.DataFrame({"item_id": [f"i{k}" for k in range(8)], "title": titles})
    inter = pl.DataFrame({"user_id": ["u"] * 8, "item_id": items["item_id"]})
    ds = Dataset.from_frames("t", inter, items, source={"reader": "test"})
    expected = [None] * 5 + ["Unknown Pleasures", None, "Mug"]
    assert ds.items["title"].to_list() == expected
    assert ds.summary()["items_with_title"] == 2


def test_embedded_office_has_no_placeholder_titles() -> None:
    # Three Office items are titled "Unknown" in the published files.
    ds = load_dataset(DataConfig())
    assert ds.items["title"].null_count() == 3
    assert ds.summary()["items_with_title"] == 2417
    assert not ds.items["title"].str.to_lowercase().is_in(["unknown"]).any()
