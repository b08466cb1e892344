"""The run directory: what a training or evaluation run leaves behind, and how it is found again.

Layout::

    <run>/config.yaml          resolved config (recipe + overrides) of the sections the run
                               uses, loadable again (``genrec.recipes.run``)
    <run>/manifest.json        versions, commit, dataset and semantic IDs fingerprints, seed,
                               command, timings, status
    <run>/checkpoints/last/    newest resumable checkpoint (weights + optimizer + RNG)
    <run>/checkpoints/best/    best-validation weights
    <run>/metrics.jsonl        one line per epoch (loss, validation metrics); RL: per step
    <run>/curves.png           RL post-training: rewards, KL and validation NDCG@10 by step
    <run>/eval/<split>/        metrics.json + per_user.parquet of the final evaluation
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from genrec.atomic import atomic_file, recover_dir


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.json"

    @property
    def last(self) -> Path:
        return recover_dir(self.path / "checkpoints" / "last")

    @property
    def best(self) -> Path:
        return recover_dir(self.path / "checkpoints" / "best")

    @property
    def log(self) -> Path:
        return self.path / "metrics.jsonl"

    def eval_dir(self, split: str) -> Path:
        return self.path / "eval" / split

    def read_manifest(self) -> dict[str, Any]:
        """manifest.json's fields (none before the run has written it)."""
        return json.loads(self.manifest.read_text()) if self.manifest.is_file() else {}

    def write_manifest(self, **fields: Any) -> None:
        """Merge ``fields`` into manifest.json (written atomically)."""
        data = self.read_manifest()
        data.update(fields)
        with atomic_file(self.manifest) as tmp:
            tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")

    def truncate_log(self, epochs: int, key: str = "epoch") -> None:
        """Drop log lines written after the checkpoint a resumed run restarts from (its
        ``epochs``-th epoch, or what ``key`` counts instead, e.g. RL steps)."""
        if self.log.is_file():
            kept = [r for r in self.epochs() if r.get(key, 0) <= epochs]
            with atomic_file(self.log) as tmp:
                tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def epochs(self) -> list[dict[str, Any]]:
        """The per-epoch log records (empty for models without a training loop)."""
        if not self.log.is_file():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def append_log(self, record: dict[str, Any]) -> None:
        with self.log.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


def environment() -> dict[str, Any]:
    """Versions, machine and source commit, recorded in every run manifest."""
    versions = {}
    for pkg in ("genrec", "torch", "accelerate", "polars", "numpy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "versions": versions,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "commit": source_commit(),
        "command": " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def source_commit() -> str | None:
    """Git commit of the genrec source tree, with ``+dirty`` when it has local changes."""
    src = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=src,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=src,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")
