"""PrefixTrie.count_items: items under each prefix, by hand and against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.sid.trie import PrefixTrie

# Three levels of sizes (2, 3, 2); item i has row i.
CODES = np.array([[0, 1, 0], [0, 1, 1], [0, 2, 0], [1, 0, 0]])
SIZES = (2, 3, 2)


@pytest.fixture(params=[True, False], ids=["numpy", "torch"])
def trie(request: pytest.FixtureRequest) -> PrefixTrie:
    trie = PrefixTrie(CODES, SIZES)
    trie.numpy_on_cpu = request.param
    return trie


def test_counts_at_every_depth(trie: PrefixTrie) -> None:
    assert trie.count_items(torch.zeros(2, 0, dtype=torch.long)).tolist() == [4, 4]
    assert trie.count_items(torch.tensor([[0], [1]])).tolist() == [3, 1]
    assert trie.count_items(torch.tensor([[0, 1], [0, 2], [0, 0], [1, 0]])).tolist() == [2, 1, 0, 1]
    assert trie.count_items(torch.tensor([[0, 1, 1], [1, 0, 1]])).tolist() == [1, 0]


def test_unknown_or_out_of_range_prefix_counts_zero(trie: PrefixTrie) -> None:
    # [0, 3] has the same mixed-radix key as [1, 0]: only the range check keeps it out
    got = trie.count_items(torch.tensor([[0, 3], [-1, 1], [2, 0], [1, 1]]))
    assert got.tolist() == [0, 0, 0, 0]
    assert got.dtype == torch.int64


def test_duplicate_ids_each_count() -> None:
    trie = PrefixTrie(np.array([[1, 1], [0, 1], [1, 1]]), (2, 2))
    assert trie.count_items(torch.tensor([[1, 1], [0, 1]])).tolist() == [2, 1]
    assert trie.count_items(torch.tensor([[1], [0]])).tolist() == [2, 1]


def test_shape_is_checked_and_empty_cases_work(trie: PrefixTrie) -> None:
    with pytest.raises(ValueError, match="0 <= t <= 3"):
        trie.count_items(torch.zeros(1, 4, dtype=torch.long))
    assert trie.count_items(torch.zeros(0, 2, dtype=torch.long)).shape == (0,)
    empty = PrefixTrie(np.zeros((0, 2), dtype=np.int64), (2, 2))
    assert empty.count_items(torch.tensor([[0], [1]])).tolist() == [0, 0]
    assert empty.count_items(torch.zeros(1, 0, dtype=torch.long)).tolist() == [0]


def test_existing_queries_unchanged(trie: PrefixTrie) -> None:
    assert trie.lookup(torch.from_numpy(CODES)).tolist() == [0, 1, 2, 3]


@st.composite
def code_tables(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, ...]]:
    sizes = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    n = draw(st.integers(0, 30))
    seed = draw(st.integers(0, 2**31))
    codes = np.random.default_rng(seed).integers(0, sizes, size=(n, len(sizes)))
    return codes, sizes


@settings(max_examples=60, deadline=None)
@given(code_tables(), st.integers(0, 2**31))
def test_counts_equal_brute_force(table: tuple[np.ndarray, tuple[int, ...]], seed: int) -> None:
    codes, sizes = table
    rng = np.random.default_rng(seed)
    trie = PrefixTrie(codes, sizes)
    for depth in range(len(sizes) + 1):
        prefixes = rng.integers(0, sizes[:depth], size=(8, depth)) if depth else np.zeros((8, 0))
        if len(codes) and depth:
            prefixes[:4] = codes[rng.integers(0, len(codes), 4), :depth]  # some real prefixes
        prefixes = prefixes.astype(np.int64)
        expected = [int((codes[:, :depth] == p).all(1).sum()) for p in prefixes]
        for backend in (True, False):
            trie.numpy_on_cpu = backend
            assert trie.count_items(torch.from_numpy(prefixes)).tolist() == expected
