"""Atomic writes: private while written, then the umask's modes like any other new file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from genrec.atomic import atomic_dir, atomic_file
from genrec.data.dataset import Dataset


@pytest.fixture(params=[0o022, 0o077, 0o002], ids=lambda m: f"umask{m:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_is_private_while_written_then_follows_the_umask(tmp_path: Path, umask: int) -> None:
    with atomic_file(tmp_path / "metrics.json") as tmp:
        tmp.write_text("{}")
        assert mode(tmp) == 0o600
    assert mode(tmp_path / "metrics.json") == 0o666 & ~umask
    assert os.umask(umask) == umask  # left as it was


def test_folder_is_private_while_written_then_follows_the_umask(tmp_path: Path, umask: int) -> None:
    for _ in range(2):  # a fresh folder, then one replacing it
        with atomic_dir(tmp_path / "ids") as tmp:
            assert mode(tmp) == 0o700
            (tmp / "codes.npy").write_bytes(b"")
        assert mode(tmp_path / "ids") == 0o777 & ~umask
        assert mode(tmp_path / "ids" / "codes.npy") == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids"]


def test_a_saved_dataset_is_readable_by_others(
    tmp_path: Path, tiny_dataset: Dataset, umask: int
) -> None:
    tiny_dataset.save(tmp_path / "data")
    paths = [tmp_path / "data", *(tmp_path / "data").rglob("*")]
    assert {mode(p) for p in paths if p.is_dir()} == {0o777 & ~umask}
    assert {mode(p) for p in paths if p.is_file()} == {0o666 & ~umask}


def test_checkpoints_and_semantic_ids_follow_the_umask(tmp_path: Path, umask: int) -> None:
    # safetensors creates its files 0600 whatever the umask; the saved folders must not stay so
    import numpy as np
    import torch

    from genrec.sid.semantic_ids import SemanticIds
    from genrec.training.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "last", {"w": torch.zeros(2)}, {"step": 1, "x": torch.ones(1)})
    SemanticIds(np.array([[0, 1], [1, 0]]), (2, 2)).save(tmp_path / "ids")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {
        "model.safetensors",
        "state.safetensors",
        "codes.safetensors",
    }
    assert {mode(p) for p in files} == {0o666 & ~umask}
    assert {mode(p) for p in tmp_path.rglob("*") if p.is_dir()} == {0o777 & ~umask}
