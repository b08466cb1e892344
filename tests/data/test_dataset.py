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


def test_html_entities_in_item_text_are_decoded() -> None:
    titles = ["Scotch&reg; Tape", "12&quot; Ruler", "&frac12; inch", "Tom & Jerry", None]
    brands = ["AT&amp;T", "Elmer&#39;s", "&#xAE;", "&amp;", "Bic&amp;reg;"]
    descriptions = ["a&nbsp;b", None, "no entity", "&unknown; stays", "&lt;b&gt;"]
    items = pl.DataFrame(
        {"item_id": [f"i{k}" for k in range(5)], "title": titles, "brand": brands}
    ).with_columns(pl.Series("description", descriptions))
    inter = pl.DataFrame({"user_id": ["u"] * 5, "item_id": items["item_id"]})
    ds = Dataset.from_frames("t", inter, items, source={"reader": "test"})
    assert ds.items["title"].to_list() == [
        "Scotch® Tape",
        '12" Ruler',
        "½ inch",
        "Tom & Jerry",
        None,
    ]
    assert ds.items["brand"].to_list() == ["AT&T", "Elmer's", "®", "&", "Bic®"]
    assert ds.items["description"].to_list() == [
        "a\xa0b",
        None,
        "no entity",
        "&unknown; stays",
        "<b>",
    ]


def test_html_entities_in_categories_are_decoded() -> None:
    categories = [["L&#39;Oreal Paris", "Hair Care"], None, [], ["Tools &amp; Home", "WEN&reg;"]]
    items = pl.DataFrame({"item_id": ["a", "b", "c", "d"]}).with_columns(
        pl.Series("categories", categories, dtype=pl.List(pl.String))
    )
    inter = pl.DataFrame({"user_id": ["u"] * 4, "item_id": items["item_id"]})
    ds = Dataset.from_frames("t", inter, items, source={"reader": "test"})
    assert ds.items["categories"].to_list() == [
        ["L'Oreal Paris", "Hair Care"],
        None,
        [],
        ["Tools & Home", "WEN®"],
    ]


def test_embedded_office_has_no_html_entities() -> None:
    ds = load_dataset(DataConfig())
    for column in ("title", "brand", "description"):
        assert (
            not ds.items[column]
            .str.contains(r"&(#\d+|#x[0-9a-fA-F]+|amp|quot|reg|nbsp|frac12);")
            .any()
        )


def test_embedded_office_has_no_placeholder_values() -> None:
    # Three Office items are titled "Unknown" in the published files, 498 have brand "Unknown".
    ds = load_dataset(DataConfig())
    assert ds.items["title"].null_count() == 3
    assert ds.summary()["items_with_title"] == 2417
    for column in ("title", "brand", "description"):
        assert not ds.items[column].str.to_lowercase().is_in(["unknown", "n/a"]).any()
