"""Generic CSV / Parquet reader: column mappings, types, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from genrec.data.sources import read_dataset
from genrec.data.sources.tabular import read_tabular
from genrec.errors import DataError

MAPPING = {"user_id": "uid", "item_id": "sku", "timestamp": "ts", "rating": "stars"}
ITEM_MAPPING = {"item_id": "sku", "title": "name", "categories": "tags", "price": "cost"}


def _check(ds) -> None:
    assert ds.users["user_id"].to_list() == ["u1", "u2"]
    assert ds.items["item_id"].to_list() == ["s1", "s2"]  # s3 is never used
    rows = ds.interactions.select("user", "item", "timestamp", "rating").rows()
    # 2024-01-02T00:00:00 -> 1704153600; u1's second line is older, so it comes first.
    assert rows == [(0, 1, 1704067200, 4.0), (0, 0, 1704153600, 5.0), (1, 0, 1704153600, 3.0)]
    assert ds.items["title"].to_list() == ["Red Mug", "Blue Plate"]
    assert ds.items["categories"].to_list() == [["kitchen", "mugs"], ["kitchen"]]
    assert ds.items["price"].to_list() == [9.5, 4.0]
    assert json.loads(ds.items["attributes"][0]) == {"colour": "red"}


def test_reads_csv(fixtures: Path) -> None:
    folder = fixtures / "raw" / "tabular"
    ds = read_tabular(
        folder / "interactions.csv",
        mapping=MAPPING,
        items=folder / "items.csv",
        item_mapping=ITEM_MAPPING,
    )
    assert ds.name == "interactions"
    _check(ds)


def test_reads_parquet_with_native_types(fixtures: Path, tmp_path: Path) -> None:
    folder = fixtures / "raw" / "tabular"
    inter = pl.read_csv(folder / "interactions.csv", infer_schema=False).with_columns(
        pl.from_epoch(pl.Series("ts", [1704153600, 1704067200, 1704153600]), time_unit="s"),
        pl.col("stars").cast(pl.Int64),
    )
    inter.write_parquet(tmp_path / "inter.parquet")
    items = pl.read_csv(folder / "items.csv").with_columns(
        pl.col("tags").str.split("|").fill_null([])
    )
    items.write_parquet(tmp_path / "items.parquet")
    ds = read_dataset(
        "tabular",
        tmp_path / "inter.parquet",
        mapping=MAPPING,
        items=tmp_path / "items.parquet",
        item_mapping=ITEM_MAPPING,
    )
    _check(ds)


def test_canonical_names_need_no_mapping(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("user_id\titem_id\nA\t1\nA\t2\nB\t1\n")
    ds = read_tabular(path)
    assert ds.n_users == 2 and ds.n_items == 2 and not ds.has("timestamp")


def test_wrong_mapping_names_file_column_and_columns(fixtures: Path) -> None:
    path = fixtures / "raw" / "tabular" / "interactions.csv"
    with pytest.raises(DataError) as err:
        read_tabular(path, mapping={**MAPPING, "rating": "score"})
    message = str(err.value)
    assert "interactions.csv" in message and "'score'" in message
    assert "['uid', 'sku', 'ts', 'stars', 'note']" in message


def test_wrong_item_mapping_and_unknown_key(fixtures: Path) -> None:
    folder = fixtures / "raw" / "tabular"
    with pytest.raises(DataError, match=r"items\.csv: mapped column.*'title_col'"):
        read_tabular(
            folder / "interactions.csv",
            mapping=MAPPING,
            items=folder / "items.csv",
            item_mapping={"item_id": "sku", "title": "title_col"},
        )
    with pytest.raises(DataError, match=r"unknown key\(s\) \['stars'\]"):
        read_tabular(folder / "interactions.csv", mapping={"stars": "stars"})


@pytest.mark.parametrize(
    ("file", "change", "where", "says"),
    [
        ("interactions.csv", lambda s: s + "u3,s1,1,five,x\n", "interactions.csv:5", "'five'"),
        ("interactions.csv", lambda s: s + "u3,s9,1,5,x\n", "interactions.csv:5", "'s9'"),
        ("interactions.csv", lambda s: s + ",s1,1,5,x\n", "interactions.csv:5", "'user_id'"),
        (
            "interactions.csv",
            lambda s: s + "u3,s1,yesterday,5,x\n",
            "interactions.csv:5",
            "'yesterday'",
        ),
        ("interactions.csv", lambda s: s + "u3,s1,1,5,x,extra\n", "interactions.csv:5", "fields"),
        ("interactions.csv", lambda s: s.splitlines()[0] + "\n", "interactions.csv", "no rows"),
        ("interactions.csv", lambda s: "", "interactions.csv", "empty"),
        ("items.csv", lambda s: s + "s1,Again,,1,red\n", "items.csv:5", "'s1'"),
        ("items.csv", lambda s: s + "s4,Cheap,,free,red\n", "items.csv:5", "'free'"),
    ],
)
def test_bad_input_names_file_and_line(raw_copy, rewrite, file, change, where, says) -> None:
    folder = raw_copy("tabular")
    rewrite(folder / file, change)
    with pytest.raises(DataError) as err:
        read_tabular(
            folder / "interactions.csv",
            mapping=MAPPING,
            items=folder / "items.csv",
            item_mapping=ITEM_MAPPING,
        )
    assert where in str(err.value) and says in str(err.value)


def test_parquet_errors_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pl.DataFrame({"user_id": ["a", None], "item_id": ["1", "2"]}).write_parquet(path)
    with pytest.raises(DataError, match=r"x\.parquet:row 2: field 'user_id' is empty"):
        read_tabular(path)


@pytest.mark.parametrize(
    ("timestamp", "where"),
    [
        ("ts", r"x\.csv:3: column 'ts' \(timestamp\) = 'yesterday'"),  # first non-number
        ("note", r"x\.csv:2: column 'note' \(timestamp\) = 'a note'"),  # a text column
    ],
)
def test_timestamps_no_format_fits_name_file_line_and_column(
    tmp_path: Path, timestamp: str, where: str
) -> None:
    # Was a polars ComputeError traceback ("could not find an appropriate format").
    path = tmp_path / "x.csv"
    path.write_text("uid,sku,ts,note\nu1,s1,1704067200,a note\nu1,s2,yesterday,b\n")
    with pytest.raises(DataError, match=where):
        read_tabular(path, mapping={"user_id": "uid", "item_id": "sku", "timestamp": timestamp})


def test_out_of_range_timestamp_is_located(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("user_id,item_id,time\nu1,s1,1e400\n")
    with pytest.raises(DataError, match=r"x\.csv:2: column 'time' \(timestamp\) = '1e400'"):
        read_tabular(path, mapping={"timestamp": "time"})


def test_nested_parquet_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pl.DataFrame({"user_id": [["a"]], "item_id": ["1"]}).write_parquet(path)
    with pytest.raises(DataError, match=r"x\.parquet: column 'user_id' \(user_id\) holds List"):
        read_tabular(path)


def test_row_the_csv_module_rejects_is_located(tmp_path: Path) -> None:
    # Found by benchmarks/reader_fuzz.py: a lone carriage return was a raw csv.Error.
    path = tmp_path / "x.csv"
    path.write_bytes(b"uid,sku\nu1,s\r1\nu2,s2,extra\n")
    with pytest.raises(DataError, match=r"x\.csv:2: not valid CSV"):
        read_tabular(path, mapping={"user_id": "uid", "item_id": "sku"})


def test_separator_must_be_one_character(fixtures: Path) -> None:
    with pytest.raises(DataError, match="separator=';;': expected one character"):
        read_tabular(fixtures / "raw" / "tabular" / "interactions.csv", separator=";;")
