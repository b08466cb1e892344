"""Shared raw-file helpers: true line numbers for bad bytes, located truncated gzip streams."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest

from genrec.data.sources import read_dataset
from genrec.data.sources.rawfiles import iter_lines, read_bytes
from genrec.errors import DataError


def _review_lines(n: int, user: str = "reviewerID", item: str = "asin") -> bytes:
    """``n`` JSON lines of reviews (amazon2014 keys, or amazon2023's ``user_id`` /
    ``parent_asin``)."""
    records = ({user: f"U{i}", item: f"A{i % 7}", "unixReviewTime": i} for i in range(n))
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _with_bad_byte(data: bytes, line: int) -> bytes:
    """``data`` with a non-UTF-8 byte inside line ``line`` (1-based)."""
    start = 0
    for _ in range(line - 1):
        start = data.index(b"\n", start) + 1
    return data[: start + 3] + b"\xff" + data[start + 3 :]


@pytest.mark.parametrize("line", [4, 4000])
def test_bad_byte_is_reported_on_its_true_line(tmp_path: Path, line: int) -> None:
    # A decoding stream fails a whole chunk ahead of the lines it has handed out: this was
    # reported as line 1 (for 4) and line 3948 (for 4000).
    path = tmp_path / "reviews_X_5.json"
    path.write_bytes(_with_bad_byte(_review_lines(5000), line))
    with pytest.raises(DataError, match=rf"reviews_X_5\.json:{line}: not valid utf-8"):
        list(iter_lines(path))
    with pytest.raises(DataError, match=rf"reviews_X_5\.json:{line}: not valid utf-8"):
        read_dataset("amazon2014", path, with_meta=False)


@pytest.mark.parametrize("line", [4, 4000])
def test_bad_byte_in_csv_is_reported_on_its_true_line(tmp_path: Path, line: int) -> None:
    path = tmp_path / "x.csv"
    rows = "user_id,item_id\n" + "".join(f"u{i},i{i % 9}\n" for i in range(5000))
    path.write_bytes(_with_bad_byte(rows.encode(), line))
    with pytest.raises(DataError, match=rf"x\.csv:{line}: not valid utf-8"):
        read_dataset("tabular", path)


def _truncated_gzip(tmp_path: Path, name: str, data: bytes) -> tuple[Path, int]:
    """A gzip file cut in the middle, and the first line it cannot give whole."""
    packed = gzip.compress(data, mtime=0)[:-200]
    readable = zlib.decompressobj(wbits=31).decompress(packed)
    path = tmp_path / name
    path.write_bytes(packed)
    return path, readable.count(b"\n") + 1


@pytest.mark.parametrize(
    ("fmt", "name"), [("amazon2014", "reviews_X_5.json.gz"), ("amazon2023", "X.jsonl.gz")]
)
def test_truncated_reviews_name_file_line_and_fix(tmp_path: Path, fmt: str, name: str) -> None:
    # Was `OSError: unexpected end of file`, with no file named.
    keys = ("reviewerID", "asin") if fmt == "amazon2014" else ("user_id", "parent_asin")
    data = _review_lines(3000, *keys)
    path, line = _truncated_gzip(tmp_path, name, data)
    with pytest.raises(DataError, match=rf"{name}:{line}: .*truncated.*download it again"):
        read_dataset(fmt, path, with_meta=False)


def test_truncated_gzip_read_whole_names_the_line(tmp_path: Path) -> None:
    path, line = _truncated_gzip(tmp_path, "user_sequence.txt.gz", _review_lines(3000))
    with pytest.raises(DataError, match=rf"user_sequence\.txt\.gz:{line}: .*download it again"):
        read_bytes(path)


def test_unknown_encoding_is_a_data_error(fixtures: Path) -> None:
    with pytest.raises(DataError, match="encoding='latin-9000'"):
        read_dataset("movielens", fixtures / "raw" / "movielens", encoding="latin-9000")
