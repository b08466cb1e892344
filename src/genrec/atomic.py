"""Atomic writes: a file or folder appears complete under its final name, or not at all.

The temporary file or folder keeps ``mkstemp`` / ``mkdtemp``'s private mode (0600 / 0700) while
it is being written; just before the rename it gets the mode any other new file or folder gets
(0666 / 0777 less the umask), and so does everything inside a folder, whatever mode its
writer chose (``safetensors`` creates its files 0600), so results, checkpoints and datasets
are as readable as the rest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _usual_modes(tmp, _umask())
        if path.exists():
            old = _old(path)
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def recover_dir(path: str | Path) -> Path:
    """Undo a replacement cut short by a kill between its two renames (old copy, no new one)."""
    path = Path(path)
    if not path.exists() and _old(path).exists():
        os.replace(_old(path), path)
    return path


def _umask() -> int:
    """The process umask: reading it means setting it, so it is set straight back."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _usual_modes(folder: Path, umask: int) -> None:
    """Give ``folder`` and everything in it the mode a new file or folder gets under ``umask``.

    Some writers (``safetensors.save_file``) create their files 0600 whatever the umask; the
    folder's contents would stay private after the rename without this.
    """
    os.chmod(folder, 0o777 & ~umask)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~umask)
        for name in files:
            file = os.path.join(root, name)
            executable = os.stat(file).st_mode & 0o100
            os.chmod(file, (0o777 if executable else 0o666) & ~umask)


def _old(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")
