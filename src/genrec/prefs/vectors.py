"""Statement texts -> sentence vectors, the form in which statements enter a generator.

The encoder is the frozen sentence encoder of ``genrec.text`` (the items' own, by default), so
a statement and an item's text live in one space. A whole statements table is encoded once and
cached on disk (``genrec.text.cache.text_embeddings``); texts met at request time are encoded
once per process and remembered.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from genrec.prefs.preference import ABOUT_COLUMN, Preference
from genrec.text.cache import text_embeddings
from genrec.text.encoder import EncoderConfig, TextEncoder


class StatementEncoder:
    """Encodes statement texts with ``encoder``; each distinct text once per process."""

    def __init__(self, encoder: TextEncoder, cache_dir: str | Path | None = None) -> None:
        self.encoder = encoder
        self.cache_dir = cache_dir
        self._memo: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def table(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """float32 ``[N, D]`` for ``texts`` (a statements table's distinct texts), cached on
        disk as one entry and remembered for later requests."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = text_embeddings(list(texts), self.encoder, self.cache_dir, progress)
        self._memo.update(zip(texts, vectors, strict=True))
        return vectors

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[N, D]`` for ``texts``, encoding only those not seen before."""
        new = sorted({t for t in texts if t not in self._memo})
        if new:
            self._memo.update(zip(new, self.encoder.encode(new, progress=False), strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])

    def __call__(self, preferences: Sequence[Sequence[Preference]], limit: int) -> torch.Tensor:
        """The positive statements of each user as ``[B, S, D + 1]``: a user's first ``limit``
        (``S <= limit``) with what each is about in the last column (``ABOUT_COLUMN``), zero
        rows where a user has fewer. Negative statements say what to exclude, not what to look
        for, and are left to the exclusion (``genrec.prefs``)."""
        chosen = [[p for p in user if p.polarity == "positive"][:limit] for user in preferences]
        width = max((len(c) for c in chosen), default=0)
        out = torch.zeros(len(chosen), max(width, 1), self.dim + 1)
        flat = [p for user in chosen for p in user]
        if flat:
            vectors = torch.from_numpy(self.texts([p.text for p in flat]))
            about = torch.tensor([ABOUT_COLUMN[p.about] for p in flat])
            rows = torch.repeat_interleave(torch.tensor([len(c) for c in chosen]))
            cols = torch.cat([torch.arange(len(c)) for c in chosen])
            out[rows, cols] = torch.cat([vectors, about[:, None]], 1)
        return out


@functools.cache
def statement_encoder(config: EncoderConfig) -> StatementEncoder:
    """One loaded sentence encoder per config and process."""
    return StatementEncoder(TextEncoder(config))
