"""Shared by the quantizer tests (residual k-means, RQ-VAE): clustered data and the
single-thread fixture.

Each test module binds the fixtures it uses to module names (``data = quantizer_helpers.data``):
pytest only sees fixtures defined in the module or a conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch


def blobs(n: int = 2000, dim: int = 32, centers: int = 64, seed: int = 0) -> np.ndarray:
    """``[n, dim]`` float32 points around ``centers`` well-separated Gaussian centres."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(centers, dim))
    return (means[rng.integers(centers, size=n)] + rng.normal(size=(n, dim))).astype(np.float32)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny matmuls: one thread is faster, and far faster on a CPU shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return blobs()
