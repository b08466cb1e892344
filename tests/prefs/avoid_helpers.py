"""A fast stand-in for the sentence encoder and a small catalog, for avoid-matching tests.

``hashing_encode`` maps each word to a fixed random vector (seeded by the word) and a text to
the normalised sum of its words: texts sharing words are close, as with a real encoder, and
nothing has to be loaded.
"""

from __future__ import annotations

import zlib

import numpy as np

from genrec.prefs.matching import AvoidMatcher, content_words

DIM = 32
#: Words the generated catalogs and statements are built from.
VOCAB = ("glitter", "matte", "fragrance", "mineral", "sunscreen", "polish", "cream", "spice")


def hashing_encode(texts: list[str]) -> np.ndarray:
    """``[N, DIM]`` unit rows: the sum of one seeded random vector per content word."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in content_words(text) or [text]:
            out[row] += np.random.default_rng(zlib.crc32(word.encode())).normal(size=DIM)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def catalog_texts(n_items: int, seed: int = 0) -> list[str]:
    """``n_items`` texts of two or three VOCAB words each (fixed by ``seed``)."""
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(VOCAB, size=rng.integers(2, 4), replace=False)) for _ in range(n_items)
    ]


def hashing_matcher(texts: list[str], threshold: float = 0.6, words: bool = True) -> AvoidMatcher:
    return AvoidMatcher(
        texts, hashing_encode(texts), hashing_encode, threshold=threshold, words=words
    )
