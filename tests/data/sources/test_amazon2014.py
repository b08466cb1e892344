"""Amazon 2014 raw-dump reader: hand-checked fixture and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genrec.data.sources import read_dataset
from genrec.data.sources.amazon2014 import read_amazon2014
from genrec.errors import DataError


def test_reads_fixture(fixtures: Path) -> None:
    ds = read_amazon2014(fixtures / "raw" / "amazon2014")
    assert ds.name == "Toy"
    assert ds.users["user_id"].to_list() == ["R1", "R2", "R3"]
    assert ds.items["item_id"].to_list() == ["A1", "A2", "A3"]  # A9 was never reviewed
    rows = ds.interactions.select("user", "item", "timestamp", "rating", "review").rows()
    assert rows == [
        (0, 1, 1100000000, 4.0, "Nice balm\nSoft lips."),  # R1's older review comes first
        (0, 0, 1300000000, 5.0, "Love it\nGreat cream."),
        (1, 1, 1200000000, 3.0, "OK\nFine."),
        (1, 2, 1250000000, 2.0, "Meh"),  # empty summary
        (2, 0, 1350000000, 1.0, "No\nToo greasy."),
    ]
    a1, a2, a3 = ds.items.rows(named=True)
    assert a1["title"] == "Rose Face Cream" and a1["brand"] == "Acme" and a1["price"] == 12.5
    assert a1["categories"] == ["Beauty", "Skin Care", "Face", "Makeup"]  # paths flattened
    assert a1["description"] == "It's a cream."
    assert json.loads(a1["attributes"]) == {"salesRank": {"Beauty": 1234}}
    assert a2["title"] == "Lip Balm" and a2["categories"] == ["Beauty", "Lips"]  # a JSON line
    assert a2["price"] is None and a2["attributes"] is None
    assert a3["title"] is None and a3["categories"] is None  # reviewed but no metadata
    source = ds.manifest["source"]
    assert source["items_without_meta"] == 1
    assert source["duplicate_meta_rows"] == 1
    assert source["duplicate_interactions"] == 0


def test_reviews_file_without_meta(fixtures: Path) -> None:
    path = fixtures / "raw" / "amazon2014" / "reviews_Toy_5.json.gz"
    ds = read_dataset("amazon2014", path, with_meta=False, name="toy")
    assert ds.n_items == 3 and ds.items["title"].null_count() == 3
    assert ds.manifest["source"]["items_without_meta"] == 3


def test_strict_rejects_items_without_meta(fixtures: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"reviews_Toy_5\.json\.gz:4: item 'A3' has no row in .*"
        r"meta_Toy\.json\.gz",
    ):
        read_amazon2014(fixtures / "raw" / "amazon2014", strict=True)


REVIEWS = "reviews_Toy_5.json.gz"
META = "meta_Toy.json.gz"


@pytest.mark.parametrize(
    ("file", "change", "where", "says"),
    [
        (REVIEWS, lambda s: s + '{"reviewerID": "R4", "asin": \n', f"{REVIEWS}:6", "not a JSON"),
        (REVIEWS, lambda s: s + '{"reviewerID": "R4"}\n', f"{REVIEWS}:6", "'asin'"),
        (REVIEWS, lambda s: s + '\n{"asin": "A1"}\n', f"{REVIEWS}:7", "'reviewerID'"),
        (
            REVIEWS,
            lambda s: s + '{"reviewerID": "R4", "asin": "A1", "overall": "five"}\n',
            f"{REVIEWS}:6",
            "'five' is not a number",
        ),
        (
            REVIEWS,  # beyond Int64 seconds: was a polars InvalidOperationError
            lambda s: s + '{"reviewerID": "R4", "asin": "A1", "unixReviewTime": 1e20}\n',
            f"{REVIEWS}:6",
            "'unixReviewTime' = 1e+20 is not a valid time",
        ),
        (REVIEWS, lambda s: "", REVIEWS, "empty"),
        (META, lambda s: s + "{'asin': 'A2', 'title': 'x'\n", f"{META}:5", "dict literal"),
        (META, lambda s: s + "{'title': 'no asin'}\n", f"{META}:5", "'asin'"),
        (META, lambda s: s + "{'asin': 'A3', 'price': 'cheap'}\n", f"{META}:5", "'price'"),
        (META, lambda s: s + "['asin', 'A3']\n", f"{META}:5", "found list"),
        (META, lambda s: "", META, "empty"),
    ],
)
def test_bad_input_names_file_and_line(raw_copy, rewrite, file, change, where, says) -> None:
    folder = raw_copy("amazon2014")
    rewrite(folder / file, change)
    with pytest.raises(DataError) as err:
        read_amazon2014(folder)
    assert where in str(err.value) and says in str(err.value)


def test_meta_is_never_evaluated(raw_copy, rewrite, tmp_path: Path) -> None:
    folder = raw_copy("amazon2014")
    marker = tmp_path / "evaluated"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    rewrite(folder / META, lambda s: s + "{'asin': 'A3', 'title': " + code + "}\n")
    with pytest.raises(DataError, match=rf"{META}:5"):
        read_amazon2014(folder)
    assert not marker.exists()


def test_required_meta_file_says_how_to_fix(raw_copy) -> None:
    folder = raw_copy("amazon2014")
    (folder / META).unlink()
    with pytest.raises(DataError, match=r"meta_Toy\.json\(\.gz\).*with_meta=False"):
        read_amazon2014(folder, with_meta=True)
