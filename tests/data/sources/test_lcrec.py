"""LC-Rec / UniTok / APAO reader: hand-checked fixture, bad input, the real Office files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from genrec.data.sources import read_dataset
from genrec.data.sources.lcrec import read_lcrec
from genrec.errors import DataError


def test_reads_fixture_in_index_order(fixtures: Path) -> None:
    ds = read_lcrec(fixtures / "raw" / "lcrec")
    assert ds.name == "Toy"
    # Keys are shuffled in the files; users and items come out in index order, ids restored.
    assert ds.users["user_id"].to_list() == ["AU0", "AU1", "AU2"]
    assert ds.items["item_id"].to_list() == ["B0A", "B0B", "B0C"]
    seqs = ds.sequences()
    assert [seqs[u].tolist() for u in range(3)] == [[0, 2, 1], [1, 2], [2, 0, 1]]
    assert ds.items["title"].to_list() == ["HP 12C Financial Calculator", "Stapler", "Sticky Notes"]
    assert ds.items["brand"].to_list() == ["HP", "Swingline", "Post-it"]
    assert ds.items["description"].to_list() == ["A calculator.", "Staples 20 sheets.", None]
    assert ds.items["categories"].null_count() == 3


def test_reads_apao_variant_with_category_strings(fixtures: Path) -> None:
    ds = read_dataset("lcrec", fixtures / "raw" / "lcrec" / "apao", prefix="Toy")
    assert ds.users["user_id"].to_list() == ["0", "1"]  # no index files: indices are the ids
    assert ds.items["item_id"].to_list() == ["0", "1"]
    assert ds.items["categories"].to_list() == [
        ["Office Electronics", "Telephones & Accessories", "Corded Telephones"],
        ["Kindle Accessories", "Styluses"],
    ]
    assert ds.items["title"].to_list() == ["Corded Phone", None]  # blank -> null
    assert ds.items["brand"].to_list() == ["AT&T", None]  # entity decoded


def _edit_json(path: Path, change) -> None:
    data = json.loads(gzip.decompress(path.read_bytes()))
    path.write_bytes(gzip.compress(json.dumps(change(data)).encode()))


@pytest.mark.parametrize(
    ("file", "change", "says"),
    [
        ("Toy.inter.json.gz", lambda d: {**d, "2": [2, 0, 9]}, "user 2 lists item 9"),
        ("Toy.inter.json.gz", lambda d: {**d, "x": [0]}, "user key 'x'"),
        ("Toy.inter.json.gz", lambda d: {**d, "3": []}, "user 3 has no items"),
        ("Toy.inter.json.gz", lambda d: {**d, "3": [0, "b"]}, "user '3'"),
        ("Toy.item.json.gz", lambda d: {**d, "1": "Stapler"}, "item '1'"),
        ("Toy.item_index.json.gz", lambda d: {"B0A": 0, "B0B": 1}, "item index 2"),
        ("Toy.user_index.json.gz", lambda d: {**d, "AU9": 1}, "user index 1"),
    ],
)
def test_bad_input_names_file_and_entry(raw_copy, file, change, says) -> None:
    folder = raw_copy("lcrec")
    _edit_json(folder / file, change)
    with pytest.raises(DataError) as err:
        read_lcrec(folder)
    assert file in str(err.value) and says in str(err.value)


def test_malformed_and_empty_json(raw_copy, rewrite) -> None:
    folder = raw_copy("lcrec")
    rewrite(folder / "Toy.item.json.gz", lambda s: s.replace("}, ", "}\n, ").replace(":", "", 1))
    with pytest.raises(DataError, match=r"Toy\.item\.json\.gz:1: invalid JSON"):
        read_lcrec(folder)
    rewrite(folder / "Toy.inter.json.gz", lambda s: "")
    with pytest.raises(DataError, match=r"Toy\.inter\.json\.gz: the file is empty"):
        read_lcrec(folder)


def test_several_prefixes_need_one(raw_copy) -> None:
    folder = raw_copy("lcrec")
    (folder / "Other.inter.json").write_text("{}")
    with pytest.raises(DataError, match="several interaction file.*prefix="):
        read_lcrec(folder)
    assert read_lcrec(folder, prefix="Toy").n_users == 3


# ----------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_office(shared_data: Path) -> None:
    ds = read_lcrec(shared_data / "amazon2014-office")
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (4905, 2420, 53258)
    # Three items are titled "Unknown" in the source: a placeholder, read as a missing title.
    untitled = ds.items.filter(pl.col("title").is_null())["item_id"].to_list()
    assert untitled == ["B000UEZ36W", "B002FKZ4UO", "B00HD05AKA"]
    assert ds.items["item_id"][0] == "B00000JBLH"
    assert ds.sequences()[1].tolist() == [332, 5, 557, 0, 748]  # "1" in the inter file


@pytest.mark.realdata
def test_real_office_apao(shared_data: Path) -> None:
    ds = read_lcrec(shared_data / "amazon2014-office" / "apao")
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (4905, 2420, 53258)
    # Three APAO items were published with an empty title (828, 1429, 1786); every item
    # still has some text through its categories.
    assert ds.items.filter(pl.col("title").is_null())["item_id"].to_list() == [
        "828",
        "1429",
        "1786",
    ]
    assert ds.items["categories"].null_count() == 0


def test_categories_joined_without_a_space_are_split(raw_copy, rewrite) -> None:
    folder = raw_copy("lcrec") / "apao"
    rewrite(
        folder / "Toy.item.json.gz",
        lambda s: s.replace("Accessories, Styluses", "Accessories,Styluses"),
    )
    ds = read_lcrec(folder)
    assert ds.items["categories"][1].to_list() == ["Kindle Accessories", "Styluses"]
