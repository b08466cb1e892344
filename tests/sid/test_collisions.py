"""Collision removal on hand-built code tables: the dedup level and last-level reassignment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.errors import DataError
from genrec.sid.collisions import (
    add_dedup_level,
    count_collisions,
    reassign_last_level,
    row_groups,
)


def test_row_groups_and_count() -> None:
    codes = np.array([[1, 2], [0, 0], [1, 2], [0, 1]])
    inverse, counts = row_groups(codes)
    assert inverse.tolist() == [2, 0, 2, 1]  # groups sorted lexicographically
    assert counts.tolist() == [1, 1, 2]
    assert count_collisions(codes) == 1
    assert count_collisions(np.zeros((0, 3), np.int64)) == 0


def test_dedup_level_numbers_each_group_in_item_order() -> None:
    codes = np.array([[1, 2], [1, 2], [0, 0], [1, 2], [0, 1], [0, 0]])
    out = add_dedup_level(codes)
    assert out.shape == (6, 3)
    np.testing.assert_array_equal(out[:, :2], codes)
    assert out[:, 2].tolist() == [0, 1, 0, 2, 0, 1]


def test_dedup_level_continues_after_existing_rows() -> None:
    existing = np.array([[1, 2, 0], [1, 2, 1], [0, 0, 0], [5, 5, 0], [5, 5, 4]])
    new = np.array([[1, 2], [3, 3], [0, 0], [1, 2], [5, 5]])
    out = add_dedup_level(new, existing=existing)
    # next free after the largest used number in the group (a gap at 5,5 is not reused)
    assert out[:, 2].tolist() == [2, 0, 1, 3, 5]
    with pytest.raises(ValueError, match="existing must be"):
        add_dedup_level(new, existing=existing[:, :2])


def test_dedup_level_empty_and_wrong_input() -> None:
    assert add_dedup_level(np.zeros((0, 3), np.int64)).shape == (0, 4)
    with pytest.raises(ValueError, match="integer matrix"):
        add_dedup_level(np.zeros((3, 2), np.float32))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=30))
def test_dedup_level_matches_brute_force(rows: list[tuple[int, int]]) -> None:
    out = add_dedup_level(np.array(rows))
    seen: dict[tuple[int, int], int] = {}
    expected = []
    for row in rows:
        expected.append(seen.get(row, 0))
        seen[row] = seen.get(row, 0) + 1
    assert out[:, 2].tolist() == expected
    assert count_collisions(out) == 0


def test_reassign_with_cost_is_optimal_not_greedy() -> None:
    # Prefix 0 holds items 0, 1 (both code 1) and 2 (code 2); free codes: 0, 1, 3.
    codes = np.array([[0, 1], [0, 1], [0, 2], [1, 3]])
    cost = np.full((4, 4), 10.0)
    cost[0, [0, 1, 3]] = [1.0, 2.0, 10.0]
    cost[1, [0, 1, 3]] = [1.5, 10.0, 10.0]
    # Greedy (item 0 takes code 0) costs 1 + 10; the optimum is item 0 -> 1, item 1 -> 0 (3.5).
    out = reassign_last_level(codes, 4, cost=cost)
    assert out.tolist() == [[0, 1], [0, 0], [0, 2], [1, 3]]


def test_reassign_without_cost_keeps_first_and_moves_up() -> None:
    codes = np.array([[0, 2], [0, 2], [0, 0], [1, 1], [1, 1]])
    out = reassign_last_level(codes, 3)
    # item 1 prefers 2+1 = 0 (taken by item 2), then 1; item 4 prefers 1+1 = 2
    assert out.tolist() == [[0, 2], [0, 1], [0, 0], [1, 1], [1, 2]]
    np.testing.assert_array_equal(codes[:, 1], [2, 2, 0, 1, 1])  # input untouched


def test_reassign_cost_function_sees_one_prefix_at_a_time() -> None:
    codes = np.array([[0, 0, 1], [0, 0, 1], [2, 1, 3], [2, 1, 3], [2, 1, 3]])
    calls: list[list[int]] = []

    def cost(items: np.ndarray) -> np.ndarray:
        calls.append(items.tolist())
        assert len({tuple(codes[i, :-1]) for i in items}) == 1
        return np.tile(np.arange(4.0), (len(items), 1))  # prefer low codes

    out = reassign_last_level(codes, 4, cost=cost)
    assert sorted(calls) == [[0, 1], [2, 3, 4]]
    assert count_collisions(out) == 0
    assert sorted(out[:2, -1].tolist()) == [0, 1]
    assert sorted(out[2:, -1].tolist()) == [0, 1, 2]


def test_reassign_single_level() -> None:
    assert reassign_last_level(np.array([[0], [0], [1]]), 3).tolist() == [[0], [2], [1]]


def test_reassign_impossible_raises_with_advice() -> None:
    codes = np.array([[0, 0], [0, 0], [0, 1], [1, 0]])
    with pytest.raises(DataError, match=r"dedup='level'.*larger codebook"):
        reassign_last_level(codes, 2)


def test_reassign_respects_existing_rows() -> None:
    existing = np.array([[0, 0], [0, 1]])
    # new item collides with an existing row: it must move (the existing one never does)
    assert reassign_last_level(np.array([[0, 0]]), 3, existing=existing).tolist() == [[0, 2]]
    # a new item with a free code keeps it
    assert reassign_last_level(np.array([[0, 2]]), 3, existing=existing).tolist() == [[0, 2]]
    with pytest.raises(DataError, match="holds 3 items"):
        reassign_last_level(np.array([[0, 1]]), 2, existing=existing)


def test_reassign_rejects_bad_cost_shape_and_range() -> None:
    codes = np.array([[0, 0], [0, 0]])
    with pytest.raises(ValueError, match="cost rows"):
        reassign_last_level(codes, 3, cost=np.zeros((2, 2)))
    with pytest.raises(DataError, match=r"\[0, 2\)"):
        reassign_last_level(np.array([[0, 5]]), 2)
    with pytest.raises(DataError, match="infinite"):
        reassign_last_level(codes, 2, cost=np.array([[0.0, np.inf], [0.0, np.inf]]))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3)), min_size=1, max_size=8),
    st.integers(0, 2**31),
)
def test_reassign_property(rows: list[tuple[int, int]], seed: int) -> None:
    codes = np.array(rows)
    cost = np.random.default_rng(seed).random((len(rows), 8))
    out = reassign_last_level(codes, 8, cost=cost)
    assert count_collisions(out) == 0
    np.testing.assert_array_equal(out[:, 0], codes[:, 0])  # prefixes never change
    alone = [i for i, r in enumerate(rows) if rows.count(r) == 1]
    np.testing.assert_array_equal(out[alone], codes[alone])  # unique items stay put
