"""Sentence encoders for tests that load no model: given vectors for known texts, a hash of
the text for the others."""

from __future__ import annotations

import numpy as np

from genrec.prefs.vectors import StatementEncoder
from tests.text.conftest import FakeEncoder


class TableEncoder(FakeEncoder):
    """``vectors[text]`` (normalised) for the texts it knows, ``FakeEncoder``'s hash otherwise."""

    def __init__(self, vectors: dict[str, list[float]] | None = None, dim: int = 8) -> None:
        super().__init__(dim=dim, weights=f"table-{sorted((vectors or {}).items())}")
        self.vectors = {t: np.asarray(v, dtype=np.float32) for t, v in (vectors or {}).items()}

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.fake_dim

    def encode(self, texts: list[str], progress: bool = True) -> np.ndarray:
        out = super().encode(texts, progress)
        for row, text in enumerate(texts):
            if text in self.vectors:
                out[row] = self.vectors[text] / np.linalg.norm(self.vectors[text])
        return out


def statement_encoder(vectors: dict[str, list[float]] | None = None) -> StatementEncoder:
    """A ``StatementEncoder`` over ``TableEncoder(vectors)``, as wide as the given vectors (8
    without)."""
    dim = len(next(iter(vectors.values()))) if vectors else 8
    return StatementEncoder(TableEncoder(vectors, dim))
