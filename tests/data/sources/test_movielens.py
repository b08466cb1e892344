"""MovieLens .dat reader: hand-checked fixture (latin-1) and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genrec.data.sources import read_dataset
from genrec.data.sources.movielens import read_movielens
from genrec.errors import DataError


def test_reads_fixture(fixtures: Path) -> None:
    ds = read_movielens(fixtures / "raw" / "movielens")
    assert ds.name == "movielens"
    assert ds.users["user_id"].to_list() == ["1", "2"]
    assert ds.items["item_id"].to_list() == ["1193", "661", "73"]  # movie 1 is never rated
    rows = ds.interactions.select("user", "item", "timestamp", "rating").rows()
    assert rows == [
        (0, 0, 978300760, 5.0),
        (0, 1, 978302109, 3.0),
        (1, 2, 978298000, 2.0),  # user 2's lines are out of time order in the file
        (1, 0, 978298413, 4.0),
    ]
    assert ds.items["title"].to_list() == [
        "One Flew Over the Cuckoo's Nest (1975)",
        "James and the Giant Peach (1996)",
        "Misérables, Les (1995)",  # latin-1 in the file
    ]
    assert ds.items["categories"][1].to_list() == ["Animation", "Children's", "Musical"]
    assert json.loads(ds.items["attributes"][0]) == {"year": 1975}


def test_explicit_paths_and_gzip(raw_copy, tmp_path: Path) -> None:
    import gzip

    folder = raw_copy("movielens")
    ratings = tmp_path / "r.dat.gz"
    ratings.write_bytes(gzip.compress((folder / "ratings.dat").read_bytes()))
    ds = read_dataset("movielens", tmp_path, ratings=ratings, movies=folder / "movies.dat")
    assert ds.n_interactions == 4


@pytest.mark.parametrize(
    ("file", "change", "where", "says"),
    [
        ("ratings.dat", lambda s: s + "3::1::5\n", "ratings.dat:5", "expected 4 fields"),
        ("ratings.dat", lambda s: s + "3::1::five::1\n", "ratings.dat:5", "'five'"),
        ("ratings.dat", lambda s: s + "3::::5::1\n", "ratings.dat:5", "'item_id' is empty"),
        ("ratings.dat", lambda s: s + "3::999::5::1\n", "ratings.dat:5", "'999' is not in"),
        ("ratings.dat", lambda s: "", "ratings.dat", "empty"),
        ("movies.dat", lambda s: s + "73::Again (1995)::Drama\n", "movies.dat:5", "'73'"),
        ("movies.dat", lambda s: s + "74::No genres\n", "movies.dat:5", "expected 3 fields"),
    ],
)
def test_bad_input_names_file_and_line(raw_copy, rewrite, file, change, where, says) -> None:
    folder = raw_copy("movielens")
    rewrite(folder / file, change, encoding="latin-1")
    with pytest.raises(DataError) as err:
        read_movielens(folder)
    assert where in str(err.value) and says in str(err.value)


def test_wrong_encoding_names_the_line(fixtures: Path) -> None:
    with pytest.raises(DataError, match=r"movies\.dat:3: not valid utf-8.*encoding="):
        read_movielens(fixtures / "raw" / "movielens", encoding="utf-8")
