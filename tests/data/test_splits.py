"""Splits against hand-computed train sequences, histories (left-padded with PAD) and targets."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from genrec.data.dataset import Dataset
from genrec.data.splits import Split, leave_one_out, temporal_cutoffs, temporal_split
from genrec.data.windows import PAD
from genrec.errors import DataError

P = PAD


def make(seqs: dict[str, list[str]], times: dict[str, list[int]] | None = None) -> Dataset:
    """Users' chronological item sequences (item ids are single letters, indexed a=0, b=1...)."""
    users = [u for u, items in seqs.items() for _ in items]
    inter = pl.DataFrame({"user_id": users, "item_id": [i for s in seqs.values() for i in s]})
    if times is not None:
        inter = inter.with_columns(timestamp=pl.Series([t for s in times.values() for t in s]))
    items = pl.DataFrame({"item_id": sorted({i for s in seqs.values() for i in s})})
    return Dataset.from_frames("hand", inter, items, source={"reader": "test"})


def train_lists(split: Split) -> list[list[int]]:
    return [split.train[u].tolist() for u in range(len(split.train))]


def test_leave_one_out_by_hand(tiny_dataset: Dataset) -> None:
    # u1: a b c d e | u2: b c d e | u3: c d e | u4: a e d (a..e = 0..4)
    split = leave_one_out(tiny_dataset, max_history=3)
    assert train_lists(split) == [[0, 1, 2], [1, 2], [2], [0]]
    assert split.valid.users.tolist() == [0, 1, 2, 3]
    assert split.valid.targets.tolist() == [3, 3, 3, 4]
    assert split.valid.histories.tolist() == [[0, 1, 2], [P, 1, 2], [P, P, 2], [P, P, 0]]
    assert split.test.users.tolist() == [0, 1, 2, 3]
    assert split.test.targets.tolist() == [4, 4, 4, 3]
    assert split.test.histories.tolist() == [[1, 2, 3], [1, 2, 3], [P, 2, 3], [P, 0, 4]]
    assert (split.n_items, split.max_history) == (5, 3)


def test_leave_one_out_default_history_is_20_left_padded(tiny_dataset: Dataset) -> None:
    split = leave_one_out(tiny_dataset)
    assert split.test.histories.shape == (4, 20)
    assert split.test.histories.dtype == np.int64 and split.test.targets.dtype == np.int64
    assert split.test.histories[0].tolist() == [P] * 16 + [0, 1, 2, 3]


def test_leave_one_out_short_users() -> None:
    # one item: training only; two items: a test case only; three: validation and test.
    split = leave_one_out(make({"one": ["a"], "two": ["a", "b"], "three": ["a", "b", "c"]}), 2)
    assert train_lists(split) == [[0], [0], [0]]
    assert split.valid.users.tolist() == [2]
    assert split.valid.histories.tolist() == [[P, 0]]
    assert split.valid.targets.tolist() == [1]
    assert split.test.users.tolist() == [1, 2]
    assert split.test.histories.tolist() == [[P, 0], [0, 1]]
    assert split.test.targets.tolist() == [1, 2]


def test_leave_one_out_history_cap() -> None:
    letters = [chr(ord("a") + k) for k in range(25)]  # 25 distinct items, indices 0..24
    split = leave_one_out(make({"long": letters, "short": ["a", "b", "c"]}), max_history=20)
    assert train_lists(split)[0] == list(range(23))
    assert split.valid.histories[0].tolist() == list(range(3, 23))  # the 20 before item 23
    assert split.valid.targets[0] == 23
    assert split.test.histories[0].tolist() == list(range(4, 24))  # the 20 before item 24
    assert split.test.targets[0] == 24
    assert split.test.histories[1].tolist() == [P] * 18 + [0, 1]


def test_leave_one_out_without_validation_users() -> None:
    split = leave_one_out(make({"x": ["a", "b"], "y": ["b"]}), max_history=2)
    assert len(split.valid) == 0 and split.valid.histories.shape == (0, 2)
    assert len(split.test) == 1


def test_temporal_split_by_hand(tiny_dataset: Dataset) -> None:
    # times  u1: a1 b2 c3 d4 e5 | u2: b1 c2 d3 e4 | u3: c2 d3 e4 | u4: a5 e6 d7
    split = temporal_split(tiny_dataset, valid_start=4, test_start=5, max_history=3)
    assert train_lists(split) == [[0, 1, 2], [1, 2, 3], [2, 3], []]
    assert split.valid.users.tolist() == [0, 1, 2]  # first item in [4, 5)
    assert split.valid.targets.tolist() == [3, 4, 4]
    assert split.valid.histories.tolist() == [[0, 1, 2], [1, 2, 3], [P, 2, 3]]
    assert split.test.users.tolist() == [0, 3]  # first item at or after 5
    assert split.test.targets.tolist() == [4, 0]
    # The test history holds everything before the target, validation window included;
    # u4 has nothing before its first item (a cold-start case).
    assert split.test.histories.tolist() == [[1, 2, 3], [P, P, P]]


def test_temporal_split_window_edges() -> None:
    ds = make({"u": ["a", "b", "c", "d"]}, {"u": [10, 20, 30, 40]})
    split = temporal_split(ds, valid_start=20, test_start=30, max_history=4)
    assert train_lists(split) == [[0]]  # strictly before valid_start
    assert split.valid.targets.tolist() == [1]  # at valid_start: validation
    assert split.test.targets.tolist() == [2]  # at test_start: test (only the first one)
    assert split.test.histories.tolist() == [[P, P, 0, 1]]
    same = temporal_split(ds, valid_start=30, test_start=30)
    assert len(same.valid) == 0 and same.test.targets.tolist() == [2]
    assert train_lists(same) == [[0, 1]]


def test_temporal_split_ignores_missing_timestamps() -> None:
    inter = pl.DataFrame(
        {"user_id": ["u"] * 3, "item_id": ["a", "b", "c"], "timestamp": [1, None, 3]}
    )
    ds = Dataset.from_frames("hand", inter, pl.DataFrame({"item_id": ["a", "b", "c"]}), source={})
    split = temporal_split(ds, valid_start=2, test_start=3)
    assert train_lists(split) == [[0]]
    assert len(split.valid) == 0
    assert split.test.targets.tolist() == [2]
    assert split.test.histories[0, -2:].tolist() == [P, 0]
    assert temporal_cutoffs(ds, 0.0, 0.5) == (3, 3)  # nulls are not counted


def test_temporal_split_errors(tiny_dataset: Dataset) -> None:
    with pytest.raises(DataError, match="must not be after"):
        temporal_split(tiny_dataset, valid_start=5, test_start=4)
    with pytest.raises(DataError, match="needs timestamps"):
        temporal_split(make({"u": ["a", "b"]}), 1, 2)


def test_temporal_cutoffs_leave_the_requested_fractions() -> None:
    ds = make({"u": list("abcdefghij")}, {"u": list(range(1, 11))})  # times 1..10
    assert temporal_cutoffs(ds, 0.1, 0.1) == (9, 10)  # 8 train, 1 validation, 1 test
    assert temporal_cutoffs(ds, 0.2, 0.2) == (7, 9)
    assert temporal_cutoffs(ds, 0.0, 0.3) == (8, 8)  # no validation window
    assert temporal_cutoffs(ds, 0.2, 0.0) == (9, 11)  # no test: the cutoff is past the end
    split = temporal_split(ds, *temporal_cutoffs(ds, 0.2, 0.2), max_history=2)
    assert len(split.train[0]) == 6
    assert (split.valid.targets.tolist(), split.test.targets.tolist()) == ([6], [8])


def test_temporal_cutoffs_ties_go_to_the_later_part() -> None:
    ds = make({"u": list("abcde")}, {"u": [1, 2, 2, 2, 3]})
    assert temporal_cutoffs(ds, 0.0, 0.2) == (3, 3)
    assert temporal_cutoffs(ds, 0.0, 0.4) == (2, 2)  # 4th of 5 is tied with 2nd and 3rd


def test_temporal_cutoffs_errors() -> None:
    with pytest.raises(DataError, match="need timestamps"):
        temporal_cutoffs(make({"u": ["a", "b"]}))
    timed = make({"u": ["a", "b"]}, {"u": [1, 2]})
    for valid_frac, test_frac in [(-0.1, 0.1), (0.5, 0.5)]:
        with pytest.raises(DataError, match="sum to less than 1"):
            temporal_cutoffs(timed, valid_frac, test_frac)
