"""Making semantic IDs unique: TIGER's extra dedup level, or LC-Rec style last-level reassignment.

A quantizer gives similar items similar codes, so several items can share all ``L`` codes. A
generative recommender must decode one exact item, so every item needs its own ID. Two fixes:

- ``add_dedup_level``: append a level numbering the items of each collision group 0, 1, 2, ...
  (TIGER). Simple and always possible; costs one more token per ID.
- ``reassign_last_level``: move colliding items to free last-level codes under the same
  ``L - 1`` prefix, choosing by a cost (LC-Rec). IDs keep ``L`` tokens, but it fails when a
  prefix holds more than ``K`` items.

Both take the rows already in use (``existing``) so cold-start items are made unique
consistently with a catalog that a model was trained on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genrec.errors import DataError
from genrec.sid.quantizer import Quantizer

#: ``cost(items [M]) -> [M, K]``: cost of giving each item each last-level code (lower = better).
CostFn = Callable[[np.ndarray], np.ndarray]


def row_groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group identical rows of ``codes [N, L]``: ``(inverse [N], counts [G])``, groups sorted."""
    codes = _as_codes(codes)
    if codes.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    radix = codes.max(axis=0) - codes.min(axis=0) + 1
    if np.prod(radix.astype(np.float64)) < 2.0**62:
        # Fast path: one int64 key per row (mixed radix), ordered like the rows.
        key = np.zeros(len(codes), np.int64)
        for level in range(codes.shape[1]):
            key = key * radix[level] + (codes[:, level] - codes[:, level].min())
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    else:
        _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return inverse.reshape(-1).astype(np.int64), counts.astype(np.int64)


def count_collisions(codes: np.ndarray) -> int:
    """Number of items that share their full code row with an earlier item."""
    inverse, counts = row_groups(codes)
    return int(len(inverse) - len(counts))


def add_dedup_level(codes: np.ndarray, existing: np.ndarray | None = None) -> np.ndarray:
    """Append TIGER's dedup level: ``[N, L] -> [N, L + 1]``.

    Items sharing all ``L`` codes are numbered 0, 1, 2, ... in item order; unique items get 0.
    With ``existing [M, L + 1]`` (rows already assigned, e.g. the trained catalog), a new item
    colliding with existing ones gets the next free number after them in its group.
    """
    codes = _as_codes(codes)
    n, n_levels = codes.shape
    if existing is None:
        existing = np.zeros((0, n_levels + 1), np.int64)
    existing = _as_codes(existing)
    if existing.shape[1] != n_levels + 1:
        raise ValueError(
            f"existing must be [M, {n_levels + 1}] (codes plus dedup level); got {existing.shape}"
        )
    inverse, counts = row_groups(np.concatenate([existing[:, :n_levels], codes]))
    old, new = inverse[: len(existing)], inverse[len(existing) :]
    # First free number per group: one past the largest number already used there.
    start = np.zeros(len(counts), np.int64)
    np.maximum.at(start, old, existing[:, n_levels] + 1)
    # Rank of each new item within its group, in item order (stable sort by group).
    order = np.argsort(new, kind="stable")
    group_first = np.searchsorted(new[order], new[order], side="left")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - group_first
    return np.concatenate([codes, (start[new] + rank)[:, None]], axis=1)


def reassign_last_level(
    codes: np.ndarray,
    codebook_size: int,
    cost: np.ndarray | CostFn | None = None,
    existing: np.ndarray | None = None,
) -> np.ndarray:
    """Remove collisions by moving items to free last-level codes: ``[N, L] -> [N, L]``.

    Per ``L - 1`` prefix holding a collision, the colliding items are matched to the codes not
    held by other items (their own shared code included, so one of them may stay) by a minimum
    cost assignment. ``cost`` is ``[N, K]`` (e.g. distance of each item's last residual to each
    last-level centroid, or a preference rank), or a function giving the rows of some items;
    without it an item prefers its own code, then the next codes up (wrapping), and the
    earliest item of a group keeps the shared code. Rows of ``existing [M, L]`` stay fixed.
    Raises ``DataError`` when a prefix has more items than ``codebook_size`` codes.
    """
    from scipy.optimize import linear_sum_assignment  # only this mode needs scipy

    codes = _as_codes(codes)
    n, n_levels = codes.shape
    k = int(codebook_size)
    existing = _as_codes(existing if existing is not None else np.zeros((0, n_levels), np.int64))
    if existing.shape[1] != n_levels or n_levels < 1:
        raise ValueError(f"existing must be [M, {n_levels}] like codes; got {existing.shape}")
    if n == 0:
        return codes.copy()
    everything = np.concatenate([existing, codes])
    if everything[:, -1].min() < 0 or everything[:, -1].max() >= k:
        raise DataError(f"last-level codes must lie in [0, {k}); check codebook_size")
    m = len(existing)
    inverse, counts = row_groups(everything)
    movable = counts[inverse[m:]] > 1  # new items sharing their row with anyone
    if not movable.any():
        return codes.copy()
    prefix, _ = row_groups(everything[:, :-1])
    moving = np.flatnonzero(movable)
    groups, local = np.unique(prefix[m + moving], return_inverse=True)
    # Codes held by rows that stay put: every existing row, every new row without a collision.
    # A shared code is not held, so one of the new items sharing it may keep it.
    held = np.concatenate([np.arange(m), m + np.flatnonzero(~movable)])
    held = held[np.isin(prefix[held], groups)]
    taken = np.zeros((len(groups), k), bool)
    taken[np.searchsorted(groups, prefix[held]), everything[held, -1]] = True
    out = codes.copy()
    order = np.argsort(local, kind="stable")
    bounds = np.searchsorted(local[order], np.arange(len(groups) + 1))
    for g in range(len(groups)):  # groups are few and small: one assignment each
        items = moving[order[bounds[g] : bounds[g + 1]]]
        free = np.flatnonzero(~taken[g])
        if len(items) > len(free):
            raise DataError(
                f"cannot make semantic IDs unique by reassignment: the prefix "
                f"{codes[items[0], :-1].tolist()} holds {len(items) + k - len(free)} items "
                f"but the last level has only {k} codes; use dedup='level' (an extra ID "
                f"token) or a larger codebook"
            )
        sub = _cost_rows(cost, items, codes[items, -1], k)[:, free]
        r, c = linear_sum_assignment(np.where(np.isfinite(sub), sub, 1e18))  # inf: forbidden
        if not np.isfinite(sub[r, c]).all():
            raise DataError(
                f"the cost allows no unique assignment under prefix "
                f"{codes[items[0], :-1].tolist()} (too many infinite entries); check the cost"
            )
        out[items[r], -1] = free[c]
    return out


def reconstruction_cost(quantizer: Quantizer, embeddings: np.ndarray, codes: np.ndarray) -> CostFn:
    """Cost for ``reassign_last_level``: ``||x_i - reconstruct(prefix_i, c)||^2`` for each code c.

    Called per prefix group (the items share their ``L - 1`` prefix), so the ``K`` candidate
    reconstructions are computed once per group. For residual k-means this is the distance of
    the item's last residual to each last-level centroid.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    k = int(quantizer.codebook_size)

    def cost(items: np.ndarray) -> np.ndarray:
        candidates = np.repeat(codes[items[:1]], k, axis=0)
        candidates[:, -1] = np.arange(k)
        recon = np.asarray(quantizer.reconstruct(candidates), dtype=np.float64)  # [K, D]
        diff = x[items][:, None, :] - recon[None, :, :]
        return np.einsum("mkd,mkd->mk", diff, diff)

    return cost


def _cost_rows(
    cost: np.ndarray | CostFn | None, items: np.ndarray, own: np.ndarray, k: int
) -> np.ndarray:
    """Cost rows ``[len(items), K]`` (float64) for one prefix group."""
    if cost is None:
        # Own code first, then the next codes up; the item rank breaks ties so the earliest
        # colliding item keeps the shared code (deterministic without a cost).
        step = (np.arange(k)[None, :] - own[:, None]) % k
        rank = np.arange(len(items))[:, None] / (len(items) * k)
        return np.where(step == 0, rank, 1.0 + step / k)
    rows = cost(items) if callable(cost) else np.asarray(cost)[items]
    rows = np.array(rows, dtype=np.float64)
    if rows.shape != (len(items), k):
        raise ValueError(f"cost rows must be [items, {k}]; got {rows.shape}")
    return rows


def _as_codes(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"codes must be an integer matrix [N, L]; got {codes.dtype} {codes.shape}")
    return codes.astype(np.int64, copy=False)
