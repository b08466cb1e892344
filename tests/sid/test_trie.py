"""PrefixTrie: batched next-code masks checked by hand and against brute force."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.errors import DataError
from genrec.sid.trie import PrefixTrie

# Three levels of sizes (2, 3, 2); item i has row i.
CODES = np.array([[0, 1, 0], [0, 1, 1], [0, 2, 0], [1, 0, 0]])
SIZES = (2, 3, 2)


def mask(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.bool)


@pytest.fixture()
def trie() -> PrefixTrie:
    return PrefixTrie(CODES, SIZES)


def test_allowed_at_every_level(trie: PrefixTrie) -> None:
    empty = torch.zeros(3, 0, dtype=torch.long)
    assert torch.equal(trie.allowed(empty), mask([[1, 1]] * 3))  # t = 0: first codes
    level1 = trie.allowed(torch.tensor([[0], [1]]))
    assert torch.equal(level1, mask([[0, 1, 1], [1, 0, 0]]))
    level2 = trie.allowed(torch.tensor([[0, 1], [0, 2], [1, 0]]))
    assert torch.equal(level2, mask([[1, 1], [1, 0], [1, 0]]))


def test_unknown_or_out_of_range_prefix_gives_all_false_row(trie: PrefixTrie) -> None:
    got = trie.allowed(torch.tensor([[0, 0], [1, 2], [-1, 1], [0, 3], [2, 0], [0, 1]]))
    # [0, 3] has the same mixed-radix key as [1, 0]: only the range check keeps it out
    assert torch.equal(got, mask([[0, 0]] * 5 + [[1, 1]]))
    assert torch.equal(trie.allowed(torch.tensor([[7]])), mask([[0, 0, 0]]))


def test_prefix_length_must_leave_a_next_level(trie: PrefixTrie) -> None:
    with pytest.raises(ValueError, match="0 <= t < 3"):
        trie.allowed(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[B, t\]"):
        trie.allowed(torch.zeros(2, dtype=torch.long))


def test_valid_mask_places_level_in_flat_vocabulary(trie: PrefixTrie) -> None:
    got = trie.valid_mask(torch.tensor([[0], [1]]), offset=2)  # tokens 2..8: 2 + 3 + 2 codes
    assert got.shape == (2, 9)
    assert torch.equal(got[:, 4:7], trie.allowed(torch.tensor([[0], [1]])))
    assert not got[:, :4].any() and not got[:, 7:].any()
    assert trie.valid_mask(torch.zeros(1, 0, dtype=torch.long), vocab_size=12).shape == (1, 12)
    with pytest.raises(ValueError, match="vocab_size"):
        trie.valid_mask(torch.zeros(1, 0, dtype=torch.long), vocab_size=3)


def test_lookup_and_contains(trie: PrefixTrie) -> None:
    rows = torch.tensor([[0, 1, 1], [1, 0, 0], [1, 1, 1], [0, 0, 2], [0, 2, 0]])
    assert trie.lookup(rows).tolist() == [1, 3, -1, -1, 2]
    assert trie.contains(rows).tolist() == [True, True, False, False, True]
    assert trie.contains(torch.tensor([[0, 2], [1, 1]])).tolist() == [True, False]
    assert trie.contains(torch.zeros(2, 0, dtype=torch.long)).tolist() == [True, True]
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        trie.lookup(torch.zeros(1, 2, dtype=torch.long))


def test_duplicate_rows_lookup_lowest_item() -> None:
    trie = PrefixTrie(np.array([[1, 1], [0, 1], [1, 1]]), (2, 2))
    assert trie.lookup(torch.tensor([[1, 1], [0, 1]])).tolist() == [0, 1]


def test_add_returns_new_trie(trie: PrefixTrie) -> None:
    bigger = trie.add(np.array([[1, 2, 1], [0, 0, 0]]))
    assert len(trie) == 4 and len(bigger) == 6
    assert trie.lookup(torch.tensor([[1, 2, 1]])).tolist() == [-1]
    assert bigger.lookup(torch.tensor([[1, 2, 1], [0, 0, 0], [0, 1, 0]])).tolist() == [4, 5, 0]
    assert torch.equal(bigger.allowed(torch.tensor([[1]])), mask([[1, 0, 1]]))
    grown = trie.add(np.array([[0, 1, 2]]), codebook_sizes=(2, 3, 3))
    assert torch.equal(grown.allowed(torch.tensor([[0, 1]])), mask([[1, 1, 1]]))
    assert torch.equal(grown.codes()[:4], torch.from_numpy(CODES))


def test_build_validation_and_readonly_input() -> None:
    codes = CODES.copy()
    codes.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on non-writable numpy input
        trie = PrefixTrie(codes, SIZES)
    assert torch.equal(trie.codes(), torch.from_numpy(CODES))
    assert trie.nbytes > 0 and "n_items=4" in repr(trie)
    with pytest.raises(DataError, match="item 3 has code 1 at level 0"):
        PrefixTrie(CODES, (1, 3, 2))
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        PrefixTrie(CODES, (2, 3))
    with pytest.raises(DataError, match="2\\*\\*62"):
        PrefixTrie(np.zeros((1, 3), np.int64), (2**21, 2**21, 2**21))


def test_to_device_copy(trie: PrefixTrie) -> None:
    moved = trie.to("cpu")
    assert moved is not trie and moved.device == torch.device("cpu")
    prefixes = torch.tensor([[0, 1], [1, 1]])
    assert torch.equal(moved.allowed(prefixes), trie.allowed(prefixes))


@pytest.mark.gpu
def test_on_gpu_matches_cpu(trie: PrefixTrie) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gpu = trie.to("cuda")
    for t in range(3):
        prefixes = torch.from_numpy(CODES[:, :t].copy())
        assert torch.equal(gpu.allowed(prefixes.cuda()).cpu(), trie.allowed(prefixes))
    assert torch.equal(gpu.lookup(torch.from_numpy(CODES).cuda()).cpu(), torch.arange(4))
    assert gpu.add(np.array([[1, 2, 1]])).lookup(torch.tensor([[1, 2, 1]]).cuda()).item() == 4


def test_empty_batch(trie: PrefixTrie) -> None:
    assert trie.allowed(torch.zeros(0, 1, dtype=torch.long)).shape == (0, 3)
    assert trie.lookup(torch.zeros(0, 3, dtype=torch.long)).shape == (0,)


def test_empty_trie() -> None:
    trie = PrefixTrie(np.zeros((0, 2), np.int64), (3, 4))
    assert not trie.allowed(torch.zeros(2, 0, dtype=torch.long)).any()
    assert trie.allowed(torch.tensor([[1]])).shape == (1, 4)
    assert trie.lookup(torch.tensor([[0, 0]])).tolist() == [-1]


@st.composite
def code_tables(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, ...]]:
    sizes = tuple(draw(st.lists(st.integers(1, 11), min_size=1, max_size=4)))
    n = draw(st.integers(0, 40))
    rows = [[draw(st.integers(0, k - 1)) for k in sizes] for _ in range(n)]
    return np.array(rows, dtype=np.int64).reshape(n, len(sizes)), sizes


@settings(max_examples=100, deadline=None)
@given(code_tables(), st.integers(0, 2**31))
def test_allowed_equals_brute_force(table: tuple[np.ndarray, tuple[int, ...]], seed: int) -> None:
    codes, sizes = table
    trie = PrefixTrie(codes, sizes)
    torch_trie = PrefixTrie(codes, sizes)
    torch_trie.numpy_on_cpu = False  # the path GPU queries take, checked here on CPU
    rng = np.random.default_rng(seed)
    for t in range(len(sizes)):
        real = codes[rng.integers(0, len(codes), 5), :t] if len(codes) else np.zeros((0, t))
        noise = rng.integers(-1, [k + 1 for k in sizes[:t]], (5, t)) if t else np.zeros((5, 0))
        prefixes = torch.from_numpy(np.concatenate([real, noise]).astype(np.int64))
        got = trie.allowed(prefixes)
        assert torch.equal(torch_trie.allowed(prefixes), got)
        assert torch.equal(torch_trie.contains(prefixes), trie.contains(prefixes))
        for row, prefix in zip(got.tolist(), prefixes.tolist(), strict=True):
            expected = {int(c[t]) for c in codes if c[:t].tolist() == prefix}
            assert {i for i, ok in enumerate(row) if ok} == expected
            assert trie.contains(torch.tensor([prefix]).view(1, t)).item() == bool(expected)
    queries = torch.from_numpy(np.concatenate([codes, rng.integers(0, sizes, (5, len(sizes)))]))
    found = trie.lookup(queries)
    assert torch.equal(torch_trie.lookup(queries), found)
    for row, item in zip(queries.tolist(), found.tolist(), strict=True):
        matches = [i for i, c in enumerate(codes.tolist()) if c == row]
        assert item == (matches[0] if matches else -1)
