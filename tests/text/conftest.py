"""Fixtures for the text stage: the real packaged MiniLM (loaded once) and a fake encoder."""

from __future__ import annotations

import os
import zlib

# Belt and braces: genrec reads models with local_files_only, and tests must never download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from genrec.text.encoder import EncoderConfig, TextEncoder  # noqa: E402


@pytest.fixture(scope="session")
def minilm() -> TextEncoder:
    """The packaged all-MiniLM-L6-v2 on CPU, shared by every test (loading takes seconds)."""
    return TextEncoder(EncoderConfig(device="cpu"))


class FakeEncoder(TextEncoder):
    """Deterministic hash-of-text vectors, counting calls; no model is ever loaded."""

    def __init__(self, dim: int = 8, weights: str = "fake-v1") -> None:
        super().__init__(EncoderConfig(model="fake"))
        self.fake_dim, self.weights, self.calls = dim, weights, 0

    def identity(self) -> dict[str, Any]:
        return {"model": "fake", "weights": self.weights, "normalize": True, "max_seq_length": None}

    def encode(self, texts: list[str], progress: bool = True) -> np.ndarray:
        self.calls += 1
        seeds = [zlib.crc32(t.encode()) for t in texts]
        out = np.stack([np.random.default_rng(s).normal(size=self.fake_dim) for s in seeds])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture()
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()
