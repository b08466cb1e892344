"""Property: every reader turns a malformed variant of its fixture into a Dataset or a located
GenrecError, never another exception (issue 12). A fast, fixed slice of the campaign that
benchmarks/reader_fuzz.py runs at length; the edits are in malformed.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.data.sources.malformed import CASES, apply, outcome, variants


@pytest.mark.parametrize("fmt", list(CASES))
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same variants on every run: CI stays deterministic
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_malformed_input_is_a_dataset_or_a_located_error(fmt: str, data: st.DataObject) -> None:
    edits = data.draw(variants(fmt), label="edits")
    with tempfile.TemporaryDirectory() as tmp:
        folder = apply(fmt, edits, Path(tmp) / fmt)
        assert outcome(fmt, folder) in ("accepted", "located")
