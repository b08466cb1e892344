"""Ranking metrics for one target per user, computed from the target's rank.

Everything starts from ``ranks [N]``: the 0-based position of the exact target item in a
user's ranked list, or ``-1`` when it is not in the list. With a single relevant item:

- Recall@K (= HR@K): 1 if ``rank < K``;
- NDCG@K (binary relevance; the ideal DCG is 1): ``1 / log2(rank + 2)`` if ``rank < K``;
- MRR@K: ``1 / (rank + 1)`` if ``rank < K``.

A list of length ``k`` can only score metrics at ``K <= k`` (a target beyond it is a miss).
All functions are vectorised over users; nothing loops in Python per user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

#: Cut-offs reported by default: 5 and 10 are the published ones, 1 and 20 are useful context.
DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20)

#: Metric names, in the order reports show them.
METRICS: tuple[str, ...] = ("recall", "ndcg", "mrr")

#: Normal quantile for a two-sided 95% interval.
Z95 = 1.96


def ranks_from_topk(
    topk_items: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor
) -> np.ndarray:
    """0-based rank of ``targets [N]`` in ``topk_items [N, k]``, or -1 when absent.

    Only the exact item counts as a hit (never a shared semantic-ID prefix).
    """
    items = _numpy(topk_items)
    targets = _numpy(targets)
    if items.ndim != 2 or targets.shape != (items.shape[0],):
        raise ValueError(
            f"expected topk_items [N, k] and targets [N]; got {items.shape} and {targets.shape}"
        )
    hits = items == targets[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1).astype(np.int64)


def recall_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user Recall@k (= HR@k with one target): ``[N]`` of 0.0 / 1.0."""
    return _hit(ranks, k).astype(np.float64)


def ndcg_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user NDCG@k with binary relevance: ``1 / log2(rank + 2)`` on a hit."""
    ranks = np.asarray(ranks)
    return np.where(_hit(ranks, k), 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)


def mrr_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user reciprocal rank cut at k: ``1 / (rank + 1)`` on a hit."""
    ranks = np.asarray(ranks)
    return np.where(_hit(ranks, k), 1.0 / (np.maximum(ranks, 0) + 1.0), 0.0)


def pass_at_k(hits: np.ndarray | torch.Tensor, k: int) -> np.ndarray:
    """Per-user Pass@k of ``n`` sampled answers ``hits [N, n]`` (True: the answer is the
    target): the chance that ``k`` of them drawn without replacement hold a hit, ``1 -
    C(n - c, k) / C(n, k)`` with ``c`` hits (the unbiased estimator of Chen et al., 2021)."""
    hits = _numpy(hits).astype(bool)
    n = hits.shape[1]
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and the number of samples ({n})")
    misses = n - hits.sum(axis=1)
    # C(m, k) / C(n, k) as a product over the k draws (no large factorials); 0 when m < k.
    draws = np.arange(k)
    ratio = np.prod(np.clip(misses[:, None] - draws, 0, None) / (n - draws), axis=1)
    return 1.0 - ratio


_PER_USER = {"recall": recall_at_k, "ndcg": ndcg_at_k, "mrr": mrr_at_k}


def per_user_metrics(ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict[str, np.ndarray]:
    """Every metric at every cut-off, per user: ``{"recall@10": [N], ...}``."""
    ks = check_ks(ks)
    ranks = np.asarray(ranks)
    return {f"{name}@{k}": fn(ranks, k) for k in ks for name, fn in _PER_USER.items()}


def summarize(
    per_user: Mapping[str, np.ndarray],
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Means and 95% confidence intervals of per-user metric values."""
    means = {name: float(np.mean(values)) for name, values in per_user.items()}
    return means, {name: confidence_interval(values) for name, values in per_user.items()}


def confidence_interval(values: np.ndarray, z: float = Z95) -> tuple[float, float]:
    """Normal-approximation 95% CI of the mean: ``mean ± z * std / sqrt(n)``.

    ``std`` is the sample standard deviation (ddof=1) over per-user values. The interval is
    not clipped to [0, 1]; with thousands of users (the real test sets) the approximation is
    good, with a handful it is rough. Fewer than two values give ``(nan, nan)``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return (float("nan"), float("nan"))
    mean = float(values.mean())
    half = z * float(values.std(ddof=1)) / np.sqrt(values.size)
    return (mean - half, mean + half)


def paired_bootstrap(
    values: np.ndarray,
    baseline: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Mean per-user difference ``values - baseline`` (both ``[N]``, the same users in the
    same order) and its percentile bootstrap interval ``(diff, low, high)``: users are drawn
    with replacement, so the interval keeps what the two have in common (the same hard users)
    out of the spread. Fewer than two users give nan bounds."""
    diff = np.asarray(values, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    if diff.size < 2:
        return float(diff.mean()) if diff.size else float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2**22 // diff.size)  # resamples drawn at once: ~32 MB of indices
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        means[start:stop] = diff[rng.integers(0, diff.size, (stop - start, diff.size))].mean(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(diff.mean()), float(low), float(high)


def aggregate_seeds(results: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """``(mean, std)`` per metric across seeds (sample std, ddof=1; nan for a single seed).

    Every result must carry the same metric names, so runs that disagree are caught here.
    """
    if not results:
        raise ValueError("aggregate_seeds needs at least one metrics dict")
    names = list(results[0])
    for i, result in enumerate(results[1:], start=1):
        if set(result) != set(names):
            diff = sorted(set(result) ^ set(names))
            raise ValueError(
                f"metrics dict {i} has different metric names than dict 0 (differ: {diff}); "
                "aggregate only runs evaluated with the same ks."
            )
    table = np.array([[float(r[name]) for name in names] for r in results])  # [seeds, metrics]
    std = table.std(axis=0, ddof=1) if len(results) > 1 else np.full(len(names), np.nan)
    return {
        name: (float(m), float(s))
        for name, m, s in zip(names, table.mean(axis=0), std, strict=True)
    }


def check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    """Cut-offs as a sorted tuple of distinct positive ints; anything else is an error."""
    ks = tuple(ks)
    if not ks or any(not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive integers, e.g. (1, 5, 10, 20); got {ks}")
    return tuple(sorted({int(k) for k in ks}))


def _hit(ranks: np.ndarray, k: int) -> np.ndarray:
    ranks = np.asarray(ranks)
    return (ranks >= 0) & (ranks < k)


def _numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)
