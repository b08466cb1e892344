"""Amazon Reviews 2023 reader: hand-checked fixture and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genrec.data.sources import read_dataset
from genrec.data.sources.amazon2023 import read_amazon2023
from genrec.errors import DataError


def test_reads_fixture(fixtures: Path) -> None:
    ds = read_amazon2023(fixtures / "raw" / "amazon2023")
    assert ds.name == "Toy"
    assert ds.users["user_id"].to_list() == ["U1", "U2"]
    # parent_asin is the item: C1a and C1b are both P1. P9 was never reviewed.
    assert ds.items["item_id"].to_list() == ["P1", "P2", "P3"]
    rows = ds.interactions.select("user", "item", "timestamp", "rating", "review").rows()
    assert rows == [
        (0, 1, 1500000000, 3.0, "Ok"),  # ms -> s; empty text
        (0, 0, 1600000000, 5.0, "Nice\nWorks well"),
        (1, 2, 1400000000, 1.0, "Bad\nBroke"),
        (1, 0, 1600000001, 4.0, "Good\nSecond colour"),
    ]
    p1, p2, p3 = ds.items.rows(named=True)
    assert (p1["title"], p1["brand"], p1["price"]) == ("Rose Cream", "Acme", 12.5)
    assert p1["categories"] == ["Beauty", "Skin Care"]
    assert p1["description"] == "A cream. For faces."
    assert json.loads(p1["attributes"]) == {
        "main_category": "All Beauty",
        "features": ["Soft", "50 ml"],
        "details": {"Brand": "Acme", "Item Weight": "50 g"},
    }
    assert (p2["title"], p2["brand"], p2["price"]) == ("Lip Balm", None, 3.99)  # "$3.99"
    assert p2["categories"] is None and p2["description"] is None
    assert p3["title"] is None  # reviewed but not in the metadata
    source = ds.manifest["source"]
    assert source["items_without_meta"] == 1 and source["duplicate_meta_rows"] == 0


def test_reviews_file_without_meta(fixtures: Path) -> None:
    path = fixtures / "raw" / "amazon2023" / "Toy.jsonl"
    ds = read_dataset("amazon2023", path, with_meta=False)
    assert ds.n_items == 3 and ds.items["title"].null_count() == 3


def test_strict_rejects_items_without_meta(fixtures: Path) -> None:
    with pytest.raises(DataError, match=r"Toy\.jsonl:4: item 'P3' has no row"):
        read_amazon2023(fixtures / "raw" / "amazon2023", strict=True)


REVIEWS = "Toy.jsonl"
META = "meta_Toy.jsonl.gz"


@pytest.mark.parametrize(
    ("file", "change", "where", "says"),
    [
        (REVIEWS, lambda s: s + '{"user_id": "U3", \n', f"{REVIEWS}:5", "not a JSON"),
        (
            REVIEWS,
            lambda s: s + '{"user_id": "U3", "asin": "C1"}\n',
            f"{REVIEWS}:5",
            "'parent_asin'",
        ),
        (
            REVIEWS,
            lambda s: s + '{"user_id": "U3", "parent_asin": "P1", "rating": "5"}\n',
            f"{REVIEWS}:5",
            "'5' is not a number",
        ),
        (
            REVIEWS,  # beyond Int64 seconds: was a polars InvalidOperationError
            lambda s: s + '\n{"user_id": "U3", "parent_asin": "P1", "timestamp": 1e40}\n',
            f"{REVIEWS}:6",
            "'timestamp' = 1e+40 is not a valid time in ms",
        ),
        (REVIEWS, lambda s: "\n", REVIEWS, "empty"),
        (META, lambda s: s + '{"parent_asin": "P3", "title": }\n', f"{META}:4", "not a JSON"),
        (META, lambda s: s + '{"title": "orphan"}\n', f"{META}:4", "'parent_asin'"),
        (META, lambda s: "", META, "empty"),
    ],
)
def test_bad_input_names_file_and_line(raw_copy, rewrite, file, change, where, says) -> None:
    folder = raw_copy("amazon2023")
    rewrite(folder / file, change)
    with pytest.raises(DataError) as err:
        read_amazon2023(folder)
    assert where in str(err.value) and says in str(err.value)


def test_several_review_files_need_a_category(raw_copy) -> None:
    folder = raw_copy("amazon2023")
    (folder / "Other.jsonl").write_text('{"user_id": "a", "parent_asin": "b"}\n')
    with pytest.raises(DataError, match="several review file.*category="):
        read_amazon2023(folder)
    assert read_amazon2023(folder, category="Toy").n_users == 2
