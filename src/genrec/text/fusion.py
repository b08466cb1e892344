"""Hybrid item embeddings: text and collaborative vectors side by side, for item indexing.

Item-indexing work builds semantic IDs from text embeddings, from collaborative ones (a trained
SASRec's item table) or from both. Concatenating raw vectors lets whichever part has the larger
norm or more dimensions dominate the quantizer's distances, so ``fuse`` first L2-normalises each
part (optionally after PCA), then scales part ``i`` by ``sqrt(w_i / sum(w))``. The result has
unit rows and its dot products are the weighted mean of the per-part cosines:
``fused[a] @ fused[b] = sum_i w_i / sum(w) * cos_i(a, b)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genrec.errors import DataError


def fuse(
    parts: Sequence[np.ndarray],
    pca_dim: int | None = None,
    weights: Sequence[float] | None = None,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """float32 ``[N, sum(D_i')]`` from parts ``[N, D_i]`` (``D_i' = min(D_i, pca_dim)``).

    ``pca_dim`` reduces every part wider than it by exact PCA (deterministic: no random solver,
    components sign-fixed), so a 768-d text part does not outweigh a 64-d collaborative one in
    width. ``weights`` default to equal. ``names`` label the parts in error messages.
    """
    if len(parts) == 0:
        raise DataError("fuse: no parts given; pass a list of [N, D] arrays.")
    names = list(names) if names is not None else [f"part {i}" for i in range(len(parts))]
    if len(names) != len(parts):
        raise DataError(f"fuse: {len(names)} names for {len(parts)} parts; give one per part.")
    weights = _check_weights(weights, names)
    if pca_dim is not None and pca_dim < 1:
        raise DataError(f"fuse: pca_dim must be >= 1 or None, found {pca_dim}.")

    arrays = [_check_part(np.asarray(p), name) for p, name in zip(parts, names, strict=True)]
    rows = {name: a.shape[0] for a, name in zip(arrays, names, strict=True)}
    if len(set(rows.values())) != 1:
        raise DataError(
            f"fuse: parts have different row counts {rows}; every part needs one row per item, "
            "in item-index order."
        )
    total = float(sum(weights))
    fused = []
    for array, name, weight in zip(arrays, names, weights, strict=True):
        unit = _normalise(array, name)
        if pca_dim is not None and unit.shape[1] > pca_dim:
            unit = _normalise(pca(unit, pca_dim), f"{name} after PCA to {pca_dim} dims")
        fused.append(unit * np.sqrt(weight / total))
    return np.concatenate(fused, axis=1).astype(np.float32)


def pca(x: np.ndarray, dim: int) -> np.ndarray:
    """``[N, dim]`` projection of centred ``x [N, D]`` on its top principal components.

    Exact (eigendecomposition of the ``[D, D]`` covariance in float64, O(N D^2)); each
    component's sign is fixed so its largest-magnitude loading is positive, which makes the
    result identical from run to run and machine to machine up to rounding.
    """
    x64 = x.astype(np.float64)
    centred = x64 - x64.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)  # eigenvalues ascending
    components = vectors[:, ::-1][:, :dim]  # [D, dim], largest variance first
    rows = np.abs(components).argmax(axis=0)
    components = components * np.sign(components[rows, np.arange(components.shape[1])])
    return centred @ components


def _check_weights(weights: Sequence[float] | None, names: list[str]) -> list[float]:
    if weights is None:
        return [1.0] * len(names)
    weights = [float(w) for w in weights]
    if len(weights) != len(names):
        raise DataError(f"fuse: {len(weights)} weights for {len(names)} parts; give one per part.")
    bad = [f"{n}={w}" for n, w in zip(names, weights, strict=True) if not np.isfinite(w) or w <= 0]
    if bad:
        raise DataError(f"fuse: weights must be positive and finite, found {', '.join(bad)}.")
    return weights


def _check_part(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim != 2 or array.shape[1] == 0:
        raise DataError(f"fuse: {name} must be a [N, D] matrix, found shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise DataError(f"fuse: {name} must be real numbers, found dtype {array.dtype}.")
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        raise DataError(
            f"fuse: {name} has NaN or infinite values in {bad.size} row(s) "
            f"(first {bad[:5].tolist()}); fix or drop those items upstream."
        )
    return array


def _normalise(array: np.ndarray, name: str) -> np.ndarray:
    """Unit rows in float64; zero rows have no direction and are an error, not a silent 0."""
    norms = np.linalg.norm(array.astype(np.float64), axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] <= 1e-12)
    if zero.size:
        raise DataError(
            f"fuse: {name} has {zero.size} all-zero row(s) (first {zero[:5].tolist()}), which "
            "have no direction to normalise; an untrained or padding embedding row is the usual "
            "cause (e.g. item rows never seen in training)."
        )
    return array / norms
