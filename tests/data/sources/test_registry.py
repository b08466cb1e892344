"""The format registry: every reader is reachable by name; unknown names list the known ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from genrec.data.dataset import Dataset
from genrec.data.sources import READERS, read_dataset
from genrec.errors import DataError

FORMATS = ["p5", "lcrec", "recbole", "amazon2014", "amazon2023", "movielens", "tabular"]


def test_registry_keys() -> None:
    assert list(READERS) == FORMATS


def test_unknown_format_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown dataset format 'csv'.*p5, lcrec, recbole"):
        read_dataset("csv", tmp_path)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "tabular"])
def test_every_fixture_reads_and_round_trips(fmt: str, fixtures: Path, tmp_path: Path) -> None:
    ds = read_dataset(fmt, fixtures / "raw" / fmt)
    assert ds.n_users > 0 and ds.manifest["source"]["reader"] == fmt
    assert Dataset.load(ds.save(tmp_path / fmt)).fingerprint == ds.fingerprint
