"""Shared by the quantizer tests (residual k-means, RQ-VAE): clustered data.

Each test module binds the fixtures it uses to module names (``data = quantizer_helpers.data``):
pytest only sees fixtures defined in the module or a conftest.
"""

from __future__ import annotations

import numpy as np
import pytest


def blobs(n: int = 2000, dim: int = 32, centers: int = 64, seed: int = 0) -> np.ndarray:
    """``[n, dim]`` float32 points around ``centers`` well-separated Gaussian centres."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(centers, dim))
    return (means[rng.integers(centers, size=n)] + rng.normal(size=(n, dim))).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return blobs()
