"""Helpers for the reader tests: private copies of the raw fixtures that a test may corrupt."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture()
def raw_copy(fixtures: Path, tmp_path: Path) -> Callable[[str], Path]:
    """``raw_copy("p5")`` -> a private copy of ``tests/fixtures/raw/p5``."""

    def copy(fmt: str) -> Path:
        target = tmp_path / fmt
        shutil.copytree(fixtures / "raw" / fmt, target)
        return target

    return copy


def _rewrite(path: Path, change: Callable[[str], str], encoding: str = "utf-8") -> Path:
    data = path.read_bytes()
    gz = path.suffix == ".gz"
    text = change((gzip.decompress(data) if gz else data).decode(encoding)).encode(encoding)
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


@pytest.fixture()
def rewrite() -> Callable[..., Path]:
    """``rewrite(path, change)``: replace a (maybe gzipped) file's text by ``change(text)``."""
    return _rewrite
