from __future__ import annotations

import pytest
from polars.testing import assert_frame_equal

from genrec.errors import DataError
from genrec.prefs.attributes import AttributesConfig, AttributesGenerator
from genrec.prefs.statements import Statements
from genrec.prefs.steps import all_steps
from genrec.prefs.store import load_statements, read_manifest, write_statements

from ..conftest import cycle_dataset
from .conftest import HISTORIES, make_rated_dataset


class Killed(Exception):
    """Stands in for SIGKILL: generation stops between chunks."""


class DiesAfter:
    """The attributes generator, killed after ``n`` chunks."""

    def __init__(self, n: int) -> None:
        self.inner, self.left = AttributesGenerator(), n
        self.name = self.inner.name

    def identity(self):
        return self.inner.identity()

    def generate(self, dataset, steps) -> Statements:
        if self.left == 0:
            raise Killed
        self.left -= 1
        return self.inner.generate(dataset, steps)


def _write(out, dataset, generator=None, **kwargs):
    return write_statements(
        out,
        dataset,
        generator or AttributesGenerator(),
        all_steps(dataset),
        steps_name="all",
        chunk_users=1,
        progress=False,
        **kwargs,
    )


def test_round_trip_with_manifest(tmp_path, rated_dataset):
    written = _write(tmp_path / "p", rated_dataset)
    loaded = load_statements(tmp_path / "p", rated_dataset)
    assert_frame_equal(loaded.table, written.table)
    manifest = read_manifest(tmp_path / "p")
    assert manifest["complete"] and manifest["dataset"]["fingerprint"] == rated_dataset.fingerprint
    assert manifest["generator"]["name"] == "attributes" and manifest["steps"] == "all"
    assert manifest["counts"]["statements"] == len(written)
    assert not (tmp_path / "p" / "chunks").exists()


def test_a_killed_run_leaves_no_table_and_resumes_to_the_same_file(tmp_path, rated_dataset):
    _write(tmp_path / "whole", rated_dataset)
    with pytest.raises(Killed):
        _write(tmp_path / "resumed", rated_dataset, DiesAfter(2))
    assert not (tmp_path / "resumed" / "statements.parquet").exists()
    assert len(list((tmp_path / "resumed" / "chunks").glob("*.parquet"))) == 2
    assert not list((tmp_path / "resumed").rglob("*.tmp"))
    with pytest.raises(DataError, match="has not finished"):
        load_statements(tmp_path / "resumed")
    counting = DiesAfter(len(HISTORIES) - 2)  # must only generate the missing chunks
    _write(tmp_path / "resumed", rated_dataset, counting)
    whole = (tmp_path / "whole" / "statements.parquet").read_bytes()
    assert (tmp_path / "resumed" / "statements.parquet").read_bytes() == whole
    counts = [read_manifest(tmp_path / d)["counts"] for d in ("whole", "resumed")]
    assert counts[0] == counts[1]


def test_another_dataset_or_setting_is_refused(tmp_path, rated_dataset):
    _write(tmp_path / "p", rated_dataset)
    other = cycle_dataset(n_users=5, n_items=6)
    with pytest.raises(DataError, match="fingerprint"):
        load_statements(tmp_path / "p", other)
    with pytest.raises(DataError, match="dataset.fingerprint"):
        _write(tmp_path / "p", other)
    with pytest.raises(DataError, match="generator.window: found 5, now 3"):
        _write(tmp_path / "p", rated_dataset, AttributesGenerator(AttributesConfig(window=3)))
    replaced = _write(tmp_path / "p", other, overwrite=True)
    assert_frame_equal(load_statements(tmp_path / "p", other).table, replaced.table)


def test_a_foreign_folder_is_never_written_into(tmp_path, rated_dataset):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not a statements folder"):
        _write(tmp_path / "p", rated_dataset, overwrite=True)
    assert (tmp_path / "p" / "notes.txt").read_text() == "mine"


def test_a_second_dataset_of_the_same_shape_is_still_another_dataset(tmp_path):
    first = make_rated_dataset()
    changed = {**HISTORIES, "dave": [("m1", 4, "ok"), ("m2", 5, "great")]}
    _write(tmp_path / "p", first)
    with pytest.raises(DataError, match="fingerprint"):
        load_statements(tmp_path / "p", make_rated_dataset(changed))
