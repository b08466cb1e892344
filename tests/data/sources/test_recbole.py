"""RecBole atomic-file reader: hand-checked fixture, bad input, real ML-100K + round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genrec.data.dataset import Dataset
from genrec.data.sources import read_dataset
from genrec.data.sources.recbole import read_recbole
from genrec.errors import DataError


def test_reads_fixture(fixtures: Path) -> None:
    ds = read_recbole(fixtures / "raw" / "recbole")
    assert ds.name == "toy"
    assert ds.users["user_id"].to_list() == ["10", "20"]
    assert ds.items["item_id"].to_list() == ["1", "2", "3"]  # item 4 has no interaction
    # User 10 sorted by timestamp: (2, t=100), then the t=300 tie in file order: 1, 3.
    rows = ds.interactions.select("user", "item", "rating", "timestamp").rows()
    assert rows == [
        (0, 1, 5.0, 100),
        (0, 0, 4.0, 300),
        (0, 2, 2.0, 300),
        (1, 1, 3.0, 100),
        (1, 0, 1.0, 200),
    ]
    assert ds.items["title"].to_list() == ["Toy Story", "GoldenEye", "Four Rooms"]
    assert ds.items["categories"][0].to_list() == ["Animation", "Children's", "Comedy"]
    assert json.loads(ds.items["attributes"][0]) == {"release_year": "1995"}


def test_reads_inter_file_alone(raw_copy) -> None:
    folder = raw_copy("recbole")
    (folder / "toy.item.gz").unlink()
    ds = read_dataset("recbole", folder / "toy.inter.gz")
    assert ds.items["item_id"].to_list() == ["1", "2", "3"]
    assert ds.items["title"].null_count() == 3


@pytest.mark.parametrize(
    ("file", "change", "where", "says"),
    [
        ("toy.inter.gz", lambda s: s + "30\t1\t5\n", "toy.inter.gz:7", "expected 4 fields"),
        ("toy.inter.gz", lambda s: s + "30\t1\tfive\t1\n", "toy.inter.gz:7", "'five'"),
        ("toy.inter.gz", lambda s: s + "30\t\t5\t1\n", "toy.inter.gz:7", "'item_id' is empty"),
        ("toy.inter.gz", lambda s: s + "30\t1\t5\t1e20\n", "toy.inter.gz:7", "not a valid time"),
        ("toy.inter.gz", lambda s: s + "30\t1\t5\tnan\n", "toy.inter.gz:7", "not a valid time"),
        ("toy.inter.gz", lambda s: s + "30\t9\t5\t1\n", "toy.inter.gz:7", "'9' is not in"),
        (
            "toy.inter.gz",
            lambda s: s.replace("user_id:token", "uid:token"),
            "toy.inter.gz:1",
            "['user_id']",
        ),
        (
            "toy.inter.gz",
            lambda s: s.replace("rating:float", "rating:number"),
            "toy.inter.gz:1",
            "'rating:number'",
        ),
        ("toy.inter.gz", lambda s: s.splitlines()[0] + "\n", "toy.inter.gz", "no rows"),
        ("toy.inter.gz", lambda s: "", "toy.inter.gz", "empty"),
        ("toy.item.gz", lambda s: s + "1\tAgain\t1999\tDrama\n", "toy.item.gz:6", "line 2"),
    ],
)
def test_bad_input_names_file_and_line(raw_copy, rewrite, file, change, where, says) -> None:
    folder = raw_copy("recbole")
    rewrite(folder / file, change)
    with pytest.raises(DataError) as err:
        read_recbole(folder)
    assert where in str(err.value) and says in str(err.value)


# ----------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_ml100k_and_round_trip(shared_data: Path, tmp_path: Path) -> None:
    ds = read_recbole(shared_data / "ml-100k")
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (943, 1682, 100000)
    assert ds.has("rating") and ds.has("timestamp")
    assert sorted(ds.interactions["rating"].unique().to_list()) == [1, 2, 3, 4, 5]
    assert ds.interactions["timestamp"].min() > 8.7e8
    assert ds.items["title"].null_count() == 0
    assert ds.items.filter(ds.items["item_id"] == "1")["title"][0] == "Toy Story"
    loaded = Dataset.load(ds.save(tmp_path / "ml-100k"))
    assert loaded.fingerprint == ds.fingerprint
    assert loaded.items.equals(ds.items) and loaded.interactions.equals(ds.interactions)
