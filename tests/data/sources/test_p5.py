"""P5 / IDGenRec reader: hand-checked fixture, bad input, and the real Beauty / Sports files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from genrec.data.sources import read_dataset
from genrec.data.sources.p5 import read_p5
from genrec.errors import DataError


def _sequences(ds) -> dict[str, list[str]]:
    ids = ds.items["item_id"].to_list()
    seqs = ds.sequences()
    return {u: [ids[i] for i in seqs[k]] for k, u in enumerate(ds.users["user_id"])}


def test_reads_fixture_in_datamaps_order(fixtures: Path) -> None:
    ds = read_p5(fixtures / "raw" / "p5")
    assert ds.users["user_id"].to_list() == ["U1", "U2", "U3"]
    # datamaps' item2id order (I4=1, I3=2, I1=3, I2=4), not first appearance.
    assert ds.items["item_id"].to_list() == ["I4", "I3", "I1", "I2"]
    assert _sequences(ds) == {
        "U1": ["I1", "I2", "I3"],
        "U2": ["I2", "I4"],
        "U3": ["I4", "I1", "I3", "I2"],
    }
    assert ds.items["title"].to_list() == [None, "garden hose 50 ft", "rose face cream", "lip balm"]
    assert ds.items["categories"].to_list() == [
        None,
        ["Garden"],
        ["Acme", "Skin Care", "Face"],
        ["Makeup", "Lips"],
    ]
    assert ds.items["brand"].null_count() == ds.n_items
    assert not ds.has("timestamp") and not ds.has("rating")
    assert ds.manifest["source"]["reader"] == "p5"
    assert len(ds.manifest["source"]["files"]) == 4


def test_plain_files_without_optional_ones(raw_copy, tmp_path: Path) -> None:
    src = raw_copy("p5")
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("user_sequence.txt", "item_keywords.txt"):
        (plain / name).write_bytes(gzip.decompress((src / f"{name}.gz").read_bytes()))
    ds = read_dataset("p5", plain, name="toy")
    assert ds.name == "toy"
    assert ds.items["item_id"].to_list() == ["I1", "I2", "I3", "I4"]  # first appearance
    assert ds.items["categories"].null_count() == 4
    assert ds.sequences()[2].tolist() == [3, 0, 2, 1]


def test_explicit_file_paths(fixtures: Path, tmp_path: Path) -> None:
    folder = fixtures / "raw" / "p5"
    ds = read_p5(
        tmp_path,
        user_sequence=folder / "user_sequence.txt.gz",
        item_keywords=folder / "item_keywords.txt.gz",
    )
    assert ds.n_users == 3 and ds.n_items == 4 and ds.n_interactions == 9


@pytest.mark.parametrize(
    ("file", "change", "where", "says"),
    [
        ("user_sequence.txt.gz", lambda s: s + "U4\n", "user_sequence.txt.gz:4", "no items"),
        ("user_sequence.txt.gz", lambda s: s + "U1 I2\n", "user_sequence.txt.gz:4", "line 1"),
        ("user_sequence.txt.gz", lambda s: s + "U4 I1 I9\n", "user_sequence.txt.gz:4", "'I9'"),
        ("item_keywords.txt.gz", lambda s: s + "I1 again\n", "item_keywords.txt.gz:5", "'I1'"),
        ("user_sequence.txt.gz", lambda s: "", "user_sequence.txt.gz", "empty"),
        ("item_keywords.txt.gz", lambda s: "\n\n", "item_keywords.txt.gz", "empty"),
        ("item_attributes.json.gz", lambda s: s[:-3], "item_attributes.json.gz:1", "JSON"),
        ("item_attributes.json.gz", lambda s: '{"I1": "Garden"}', "item_attributes", "'I1'"),
        ("datamaps.json.gz", lambda s: s.replace('"I4": "1", ', ""), "datamaps", "'I4'"),
    ],
)
def test_bad_input_names_file_and_line(raw_copy, rewrite, file, change, where, says) -> None:
    folder = raw_copy("p5")
    rewrite(folder / file, change)
    with pytest.raises(DataError) as err:
        read_p5(folder)
    assert where in str(err.value) and says in str(err.value)


def test_unknown_item_names_both_files(raw_copy, rewrite) -> None:
    folder = raw_copy("p5")
    rewrite(folder / "user_sequence.txt.gz", lambda s: s.replace("U2 I2 I4", "U2 I2 I7"))
    with pytest.raises(
        DataError,
        match=r"user_sequence\.txt\.gz:2: item_id 'I7' is not in .*"
        r"item_keywords\.txt\.gz",
    ):
        read_p5(folder)


def test_missing_folder_says_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"user_sequence\.txt\(\.gz\)"):
        read_p5(tmp_path)


# ----------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_beauty(shared_data: Path) -> None:
    folder = shared_data / "amazon2014-beauty"
    ds = read_p5(folder)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (22363, 12101, 198502)
    # First line of the file, item for item; item index = P5 id - 1.
    with gzip.open(folder / "user_sequence.txt.gz", "rt") as f:
        first = f.readline().split()
    assert ds.users["user_id"][0] == first[0]
    assert ds.items["item_id"].gather(ds.sequences()[0]).to_list() == first[1:]
    item2id = json.loads(gzip.decompress((folder / "datamaps.json.gz").read_bytes()))["item2id"]
    assert all(item2id[i] == str(k + 1) for k, i in enumerate(ds.items["item_id"].head(50)))
    # Every item has a keyword phrase except B001LTVF7G (blank in the published file).
    assert ds.items.filter(pl.col("title").is_null())["item_id"].to_list() == ["B001LTVF7G"]
    assert ds.items["categories"].null_count() == 0


@pytest.mark.realdata
def test_real_sports(shared_data: Path) -> None:
    ds = read_dataset("p5", shared_data / "amazon2014-sports")
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (35598, 18357, 296337)
    assert ds.items["title"].null_count() == 0
    assert ds.items["categories"].null_count() == ds.n_items  # no item_attributes file


@pytest.mark.parametrize("keep", ["id2", "2id"])
def test_datamaps_with_one_direction_is_enough(raw_copy, rewrite, keep: str) -> None:
    # Some published copies carry only id2user / id2item; either direction gives the order.
    folder = raw_copy("p5")

    def one_direction(text: str) -> str:
        maps = json.loads(text)
        return json.dumps({k: v for k, v in maps.items() if keep in k})

    rewrite(folder / "datamaps.json.gz", one_direction)
    ds = read_p5(folder)
    assert ds.users["user_id"].to_list() == ["U1", "U2", "U3"]
    assert ds.items["item_id"].to_list() == ["I4", "I3", "I1", "I2"]


def test_datamaps_without_either_direction_names_both(raw_copy, rewrite) -> None:
    folder = raw_copy("p5")
    rewrite(folder / "datamaps.json.gz", lambda s: '{"user2id": {"U1": 1, "U2": 2, "U3": 3}}')
    with pytest.raises(DataError, match="neither item2id nor id2item is an object"):
        read_p5(folder)
