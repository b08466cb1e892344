"""How good are the codes? Usage, perplexity, collisions and reconstruction error.

A useful semantic-ID quantizer spreads items over its codes (usage near 1, perplexity near K
at every level), leaves few items sharing a full code (each shared code costs a disambiguating
token) and keeps enough of the embedding to reconstruct it. ``report`` gathers these into one
JSON-ready dict for the CLI; ``plot_usage`` draws the per-level code histograms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genrec.atomic import atomic_file
from genrec.errors import DataError


def code_counts(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """Items per code, ``[L, K]`` int64, from codes ``[N, L]`` in ``[0, K)``."""
    c = _check(codes, codebook_size)
    levels = np.arange(c.shape[1])
    flat = (levels * codebook_size + c).ravel()  # one bincount for all levels at once
    counts = np.bincount(flat, minlength=c.shape[1] * codebook_size)
    return counts.reshape(c.shape[1], codebook_size)


def code_usage(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """Fraction of the K codes used by at least one item, per level: ``[L]`` float64."""
    return (code_counts(codes, codebook_size) > 0).mean(axis=1)


def perplexity(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """``exp(entropy)`` of each level's code distribution, ``[L]``: K when perfectly even."""
    counts = code_counts(codes, codebook_size).astype(np.float64)
    p = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return np.exp(entropy)


def collision_stats(codes: np.ndarray) -> dict[str, float | int]:
    """How many items share their full L-level code with another item.

    Returns ``collision_rate`` (fraction of items in a shared code), ``n_codes`` (distinct full
    codes), ``n_collision_groups`` (codes held by >= 2 items) and ``max_group_size``.
    """
    c = _check(codes, None)
    if len(c) == 0:
        return {"collision_rate": 0.0, "n_codes": 0, "n_collision_groups": 0, "max_group_size": 0}
    _, sizes = np.unique(c, axis=0, return_counts=True)
    shared = sizes[sizes > 1]
    return {
        "collision_rate": float(shared.sum() / len(c)),
        "n_codes": int(len(sizes)),
        "n_collision_groups": int(len(shared)),
        "max_group_size": int(sizes.max()),
    }


def reconstruction_error(embeddings: np.ndarray, reconstructed: np.ndarray) -> dict[str, float]:
    """``mse`` (mean over all entries) and mean ``cosine`` similarity of ``[N, D]`` pairs."""
    x = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(reconstructed, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise DataError(
            f"reconstruction_error: expected two [N, D] arrays of one shape, found {x.shape} "
            f"and {y.shape}."
        )
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    cosine = (x * y).sum(axis=1) / np.where(norms > 0, norms, 1.0)
    return {"mse": float(((x - y) ** 2).mean()), "cosine": float(cosine.mean())}


def report(
    codes: np.ndarray,
    codebook_size: int,
    embeddings: np.ndarray | None = None,
    reconstructed: np.ndarray | None = None,
) -> dict[str, Any]:
    """All diagnostics of ``codes [N, L]`` as plain JSON-ready values.

    Pass ``embeddings`` and ``reconstructed`` (e.g. ``quantizer.reconstruct(codes)``) to add
    the reconstruction error.
    """
    c = _check(codes, codebook_size)
    out: dict[str, Any] = {
        "n_items": int(c.shape[0]),
        "n_levels": int(c.shape[1]),
        "codebook_size": int(codebook_size),
        "usage": [round(float(u), 6) for u in code_usage(c, codebook_size)],
        "perplexity": [round(float(p), 3) for p in perplexity(c, codebook_size)],
        **collision_stats(c),
    }
    if embeddings is not None and reconstructed is not None:
        out["reconstruction"] = reconstruction_error(embeddings, reconstructed)
    return out


def plot_usage(codes: np.ndarray, codebook_size: int, path: str | Path) -> Path:
    """Write a PNG with one bar chart per level: items per code, codes sorted by index."""
    # Imported here: matplotlib costs ~0.5 s to import and only this function needs it. The
    # bare Figure (no pyplot) renders with Agg and leaves global backend state alone.
    from matplotlib.figure import Figure

    counts = code_counts(codes, codebook_size)
    usage, ppl = code_usage(codes, codebook_size), perplexity(codes, codebook_size)
    n_levels = len(counts)
    fig = Figure(figsize=(8, 2.2 * n_levels), layout="constrained")
    axes = fig.subplots(n_levels, 1, squeeze=False)[:, 0]
    for level, ax in enumerate(axes):
        ax.bar(np.arange(codebook_size), counts[level], width=1.0, color="tab:blue")
        ax.set_xlim(-0.5, codebook_size - 0.5)
        ax.set_ylabel("items")
        ax.set_title(
            f"level {level}: {usage[level]:.1%} of {codebook_size} codes used, "
            f"perplexity {ppl[level]:.1f}",
            fontsize=10,
        )
    axes[-1].set_xlabel("code")
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)


def _check(codes: np.ndarray, codebook_size: int | None) -> np.ndarray:
    """Validate integer codes ``[N, L]`` (in ``[0, K)`` when K is given)."""
    c = np.asarray(codes)
    if c.ndim != 2 or not np.issubdtype(c.dtype, np.integer):
        raise DataError(f"expected integer codes of shape [N, L], found {c.dtype} {c.shape}.")
    if codebook_size is not None:
        bad = np.flatnonzero(((c < 0) | (c >= codebook_size)).any(axis=1))
        if len(bad):
            rows = ", ".join(str(int(r)) for r in bad[:10])
            raise DataError(
                f"codes in rows [{rows}{', ...' if len(bad) > 10 else ''}] fall outside "
                f"[0, {codebook_size}); pass the codebook_size the quantizer was fitted with."
            )
    return c
