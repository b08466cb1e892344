"""SemanticIds with a tiny stand-in quantizer: build, lookups, tokens, cold start, disk format."""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from genrec.errors import DataError, NotFittedError
from genrec.sid import semantic_ids
from genrec.sid.quantizer import Quantizer
from genrec.sid.semantic_ids import SemanticIds


class GridQuantizer:
    """Follows the Quantizer protocol: code ``l`` is ``floor(x_l)`` clipped to ``[0, K)``."""

    def __init__(self, n_levels: int = 2, codebook_size: int = 4) -> None:
        self.n_levels, self.codebook_size, self.fitted = n_levels, codebook_size, False

    def fit(self, embeddings: np.ndarray) -> GridQuantizer:
        self.fitted = True
        return self

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        if not self.fitted:
            raise NotFittedError("GridQuantizer is not fitted; call fit(embeddings) first")
        x = np.floor(np.asarray(embeddings)[:, : self.n_levels])
        return np.clip(x, 0, self.codebook_size - 1).astype(np.int64)

    def reconstruct(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.float64) + 0.5  # cell centres

    def save(self, path: str | Path) -> None:
        Path(path).mkdir(parents=True)
        (Path(path) / "grid.json").write_text(json.dumps([self.n_levels, self.codebook_size]))

    @classmethod
    def load(cls, path: str | Path) -> GridQuantizer:
        return cls(*json.loads((Path(path) / "grid.json").read_text())).fit(np.zeros((0, 2)))


# Items 0, 1 and 3 share codes (0, 1); item 2 is (1, 3), item 4 is (3, 0).
EMB = np.array([[0.2, 1.1], [0.7, 1.9], [1.5, 3.5], [0.1, 1.5], [3.2, 0.3]])


@pytest.fixture()
def quantizer() -> GridQuantizer:
    return GridQuantizer().fit(EMB)


@pytest.fixture()
def ids(quantizer: GridQuantizer) -> SemanticIds:
    return SemanticIds.build(EMB, quantizer, dedup="level", metadata={"template": "{title}"})


def test_stand_in_follows_protocol(quantizer: GridQuantizer) -> None:
    assert isinstance(quantizer, Quantizer)


def test_build_level_mode(ids: SemanticIds) -> None:
    assert ids.codes.tolist() == [[0, 1, 0], [0, 1, 1], [1, 3, 0], [0, 1, 2], [3, 0, 0]]
    assert ids.codebook_sizes == (4, 4, 3) and ids.n_items == 5 and ids.n_levels == 3
    assert ids.dedup == "level" and ids.metadata["template"] == "{title}"
    assert ids.metadata["collisions_before_dedup"] == 2
    assert ids.metadata["quantizer"].endswith("GridQuantizer")


def test_build_reassign_uses_reconstruction_distance(quantizer: GridQuantizer) -> None:
    ids = SemanticIds.build(EMB, quantizer, dedup="reassign")
    # prefix 0: x_1 = 1.1, 1.9, 1.5 vs cell centres 0.5..3.5; optimum 0.36 + 0.16 + 0 (by hand)
    assert ids.codes.tolist() == [[0, 0], [0, 2], [1, 3], [0, 1], [3, 0]]
    assert ids.codebook_sizes == (4, 4)


def test_build_none_keeps_collisions(quantizer: GridQuantizer) -> None:
    ids = SemanticIds.build(EMB, quantizer, dedup="none")
    assert ids.codes.tolist() == [[0, 1], [0, 1], [1, 3], [0, 1], [3, 0]]
    assert ids.codes_to_items(np.array([[0, 1]])).tolist() == [0]  # lowest item


def test_build_from_given_codes(quantizer: GridQuantizer) -> None:
    # e.g. balanced k-means' fit-time codes, which predict() would not reproduce
    given = np.array([[0, 0], [0, 1], [0, 2], [0, 3], [1, 0]])
    ids = SemanticIds.build(EMB, quantizer, dedup="level", codes=given)
    assert ids.codes[:, :2].tolist() == given.tolist() and ids.codebook_sizes == (4, 4, 1)
    assert (
        repr(ids)
        == "SemanticIds(n_items=5, codebook_sizes=(4, 4, 1), dedup='level', GridQuantizer)"
    )
    with pytest.raises(DataError, match=r"integers in \[0, 4\) of shape \[5, 2\]"):
        SemanticIds.build(EMB, quantizer, codes=given + 3)


def test_build_checks(quantizer: GridQuantizer) -> None:
    with pytest.raises(ValueError, match="dedup must be"):
        SemanticIds.build(EMB, quantizer, dedup="hash")
    with pytest.raises(DataError, match="dedup_size=2 is too small"):
        SemanticIds.build(EMB, quantizer, dedup_size=2)
    with pytest.raises(NotFittedError, match="call fit"):
        SemanticIds.build(EMB, GridQuantizer())
    with pytest.raises(DataError, match="JSON-serialisable"):
        SemanticIds.build(EMB, quantizer, metadata={"bad": object()})
    with pytest.raises(DataError, match="share their ID"):
        SemanticIds(np.array([[0, 1], [0, 1]]), (2, 2), metadata={"dedup": "level"})


def test_immutable(ids: SemanticIds) -> None:
    source = np.array([[0, 1], [1, 0]])
    other = SemanticIds(source, (2, 2))
    source[0, 0] = 1  # the caller's array is not shared
    assert other.codes.tolist() == [[0, 1], [1, 0]]
    with pytest.raises(ValueError, match="read-only"):
        ids.codes[0, 0] = 3
    with pytest.raises(ValueError):
        ids.codes.flags.writeable = True
    with pytest.raises(dataclasses.FrozenInstanceError):
        ids.codes = np.zeros((5, 3), np.int64)  # type: ignore[misc]
    with pytest.raises(TypeError):
        ids.metadata["dedup"] = "none"  # type: ignore[index]


def test_pickles_for_worker_processes(ids: SemanticIds) -> None:
    back = pickle.loads(pickle.dumps(ids))
    np.testing.assert_array_equal(back.codes, ids.codes)
    assert back.codebook_sizes == ids.codebook_sizes and dict(back.metadata) == dict(ids.metadata)
    assert not back.codes.flags.writeable and isinstance(back.quantizer, GridQuantizer)


def test_lookups_both_ways(ids: SemanticIds) -> None:
    items = np.array([3, 0, 4])
    codes = ids.item_to_codes(items)
    assert codes.tolist() == [[0, 1, 2], [0, 1, 0], [3, 0, 0]]
    assert ids.codes_to_items(codes).tolist() == [3, 0, 4]
    assert ids.codes_to_items(np.array([[0, 1, 3], [2, 2, 0]])).tolist() == [-1, -1]
    # torch in, torch out (what the decoder uses)
    found = ids.codes_to_items(torch.from_numpy(ids.codes.copy()))
    assert isinstance(found, torch.Tensor) and found.tolist() == list(range(5))
    assert isinstance(ids.item_to_codes(torch.tensor([1])), torch.Tensor)
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        ids.item_to_codes(np.array([5]))


def test_tokens_flat_vocabulary(ids: SemanticIds) -> None:
    assert ids.vocab_size == 11 and ids.level_offsets(2).tolist() == [2, 6, 10]
    assert ids.tokens(offset=2)[3].tolist() == [2, 7, 12]
    tokens = ids.tokens(torch.tensor([3]), offset=2)
    assert tokens.tolist() == [[2, 7, 12]]
    assert ids.tokens_to_codes(tokens, offset=2).tolist() == [[0, 1, 2]]
    assert ids.tokens_to_codes(np.array([[3, 6]])).tolist() == [[3, 2]]  # a prefix works too
    with pytest.raises(DataError, match="level"):
        ids.tokens_to_codes(np.array([[4]]))


def test_trie_is_cached_and_constrains(ids: SemanticIds) -> None:
    assert ids.trie is ids.trie
    allowed = ids.trie.allowed(torch.tensor([[0, 1]]))
    assert allowed.tolist() == [[True, True, True]]


def test_add_items_level_mode(ids: SemanticIds) -> None:
    new = np.array([[0.5, 1.5], [2.5, 2.5]])  # (0, 1) collides with 3 items; (2, 2) is free
    with pytest.warns(UserWarning, match="dedup level grows from 3 to 4"):
        more = ids.add_items(new)
    assert more.codes[:5].tolist() == ids.codes.tolist()  # old IDs never change
    assert more.codes[5:].tolist() == [[0, 1, 3], [2, 2, 0]]
    assert more.codebook_sizes == (4, 4, 4) and more.metadata["n_added"] == 2
    assert more.codes_to_items(np.array([[0, 1, 3], [2, 2, 0]])).tolist() == [5, 6]
    assert ids.n_items == 5  # the original is unchanged


def test_add_items_within_reserved_dedup_size(quantizer: GridQuantizer) -> None:
    ids = SemanticIds.build(EMB, quantizer, dedup_size=8)
    more = ids.add_items(np.array([[0.5, 1.5]]))  # no warning: room was reserved
    assert more.codebook_sizes == (4, 4, 8) and more.codes[5].tolist() == [0, 1, 3]


def test_add_items_reassign_mode(quantizer: GridQuantizer) -> None:
    ids = SemanticIds.build(EMB, quantizer, dedup="reassign")
    more = ids.add_items(np.array([[0.5, 1.2]]))  # (0, 1) is taken; only code 3 is free
    assert more.codes[5].tolist() == [0, 3]
    with pytest.raises(DataError, match="dedup='level'"):
        more.add_items(np.array([[0.3, 0.4]]))  # prefix 0 is full


def test_add_items_needs_quantizer(ids: SemanticIds) -> None:
    with pytest.raises(NotFittedError, match="no quantizer"):
        dataclasses.replace(ids, quantizer=None).add_items(EMB[:1])


def test_fingerprint_identifies_codes_vocabulary_and_dedup(ids: SemanticIds) -> None:
    same = SemanticIds(ids.codes.copy(), ids.codebook_sizes, None, {"dedup": "level"})
    assert len(ids.fingerprint) == 16 and same.fingerprint == ids.fingerprint  # not metadata
    swapped = ids.codes[[1, 0, 2, 3, 4]]  # two items trade IDs: same vocabulary, other meaning
    others = [
        SemanticIds(swapped, ids.codebook_sizes, None, {"dedup": "level"}),
        SemanticIds(ids.codes, (*ids.codebook_sizes[:-1], 9), None, {"dedup": "level"}),
        SemanticIds(ids.codes, ids.codebook_sizes, None, {"dedup": "none"}),
    ]
    assert len({ids.fingerprint, *(other.fingerprint for other in others)}) == 4


def test_save_load_round_trip(ids: SemanticIds, tmp_path: Path) -> None:
    path = ids.save(tmp_path / "sid")
    back = SemanticIds.load(path, load_quantizer=GridQuantizer.load)
    np.testing.assert_array_equal(back.codes, ids.codes)
    assert back.codes.dtype == np.int64 and back.codebook_sizes == ids.codebook_sizes
    assert dict(back.metadata) == dict(ids.metadata)
    assert back.fingerprint == ids.fingerprint
    assert json.loads((path / "semantic_ids.json").read_text())["fingerprint"] == ids.fingerprint
    assert back.add_items(EMB[4:]).codes[-1].tolist() == [3, 0, 1]  # quantizer came back
    ids.save(path)  # overwriting is atomic and leaves no temporary folders
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sid"]


def test_load_finds_module_loader_or_warns(
    ids: SemanticIds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ids.save(tmp_path / "sid")
    fake = types.ModuleType("fake_quantizers")
    fake.load_quantizer = GridQuantizer.load  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_quantizers", fake)
    monkeypatch.setattr(semantic_ids, "QUANTIZER_MODULES", ("no_such_module", "fake_quantizers"))
    assert isinstance(SemanticIds.load(path).quantizer, GridQuantizer)
    monkeypatch.setattr(semantic_ids, "QUANTIZER_MODULES", ("no_such_module",))
    with pytest.warns(UserWarning, match="not loaded"):
        assert SemanticIds.load(path).quantizer is None
    dataclasses.replace(ids, quantizer=None).save(path)  # no quantizer saved: no warning
    assert SemanticIds.load(path).quantizer is None


def _rewrite_header(path: Path, **changes: object) -> None:
    header = json.loads((path / "semantic_ids.json").read_text())
    (path / "semantic_ids.json").write_text(json.dumps({**header, **changes}))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "semantic_ids.json").unlink(), "semantic_ids.json: missing"),
        (lambda p: (p / "semantic_ids.json").write_text("{oops"), "not valid JSON"),
        (lambda p: _rewrite_header(p, format="other"), "not a genrec.semantic_ids"),
        (lambda p: _rewrite_header(p, version=99), "version 1"),
        (lambda p: _rewrite_header(p, codebook_sizes=[4, 0, 3]), "positive ints"),
        (lambda p: _rewrite_header(p, n_items=4), r"header says int64 \(4, 3\)"),
        (lambda p: _rewrite_header(p, codebook_sizes=[4, 4, 2]), "inconsistent.*item 3"),
        (lambda p: (p / "codes.safetensors").unlink(), "codes.safetensors: missing"),
        (lambda p: (p / "codes.safetensors").write_bytes(b"\x08\x00garbage"), "cannot read"),
        (
            lambda p: save_file({"codes": np.zeros((5, 3), np.int64)}, p / "codes.safetensors"),
            "checksum",
        ),
        (
            lambda p: save_file({"codes": np.zeros((5, 3), np.int32)}, p / "codes.safetensors"),
            "int32",
        ),
        (lambda p: (p / "quantizer" / "grid.json").unlink(), "cannot load the quantizer"),
    ],
)
def test_corrupted_folder_raises_data_error(
    ids: SemanticIds, tmp_path: Path, damage, message: str
) -> None:
    path = ids.save(tmp_path / "sid")
    damage(path)
    with pytest.raises(DataError, match=message):
        SemanticIds.load(path, load_quantizer=GridQuantizer.load)
