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
