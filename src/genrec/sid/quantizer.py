"""The contract every residual quantizer follows (scikit-learn style), used by SemanticIds.

A quantizer maps embeddings ``[N, D]`` to ``L`` levels of codes in ``[0, K)``; similar items
share code prefixes. ``fit`` returns self; calling ``predict`` before ``fit`` raises
``NotFittedError`` naming what to call. ``save`` / ``load`` use safetensors + JSON only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Quantizer(Protocol):
    n_levels: int  # L
    codebook_size: int  # K

    def fit(self, embeddings: np.ndarray) -> Quantizer:
        """Learn the codebooks from float32 ``[N, D]``; returns self."""
        ...

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Codes ``[N, L]`` int64 for (possibly new) embeddings, without refitting."""
        ...

    def reconstruct(self, codes: np.ndarray) -> np.ndarray:
        """Embeddings ``[N, D]`` rebuilt from codes (for the reconstruction-error diagnostic)."""
        ...

    def save(self, path: str | Path) -> None:
        """Write the fitted state into folder ``path`` (safetensors + JSON)."""
        ...

    @classmethod
    def load(cls, path: str | Path) -> Quantizer:
        """Read a quantizer written by ``save``."""
        ...
