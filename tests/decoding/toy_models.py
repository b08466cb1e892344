"""Tiny StepModels with known logits, and brute-force scoring of every item, for the tests.

``TableModel`` reads its next-token logits from a function of (user, tokens fed so far). The
tokens live in the state as a growing ``cache [R, t]``: a stand-in for a KV cache, so a decoder
that reorders or feeds tokens wrongly gets wrong logits (and the tests see it). States are
immutable, so a decoder that ignores a returned state gets stale logits too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import torch

from genrec.data.windows import PAD
from genrec.sid.semantic_ids import SemanticIds

LogitsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # users [R], cache [R, t] -> [R, V]


@dataclass(frozen=True)
class TableState:
    users: torch.Tensor  # [R] user key of each row
    cache: torch.Tensor  # [R, t] tokens fed so far
    beams: int


@dataclass
class TableModel:
    """StepModel: ``logits = fn(users, cache)``; the user key is the last history item + 1
    (0 for an empty history). Records every cache it scores and every ``rows`` it reorders."""

    fn: LogitsFn
    caches: list[torch.Tensor] = field(default_factory=list)
    reorders: list[torch.Tensor] = field(default_factory=list)

    def start(self, histories: torch.Tensor, beams: int) -> TableState:
        users = histories[:, -1] + 1  # PAD (-1) -> 0
        users = users.repeat_interleave(beams)
        return TableState(users, torch.zeros(len(users), 0, dtype=torch.long), beams)

    def step(
        self, state: TableState, tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, TableState]:
        cache = state.cache
        if tokens is not None:
            assert tokens.shape == (len(cache),), tokens.shape
            cache = torch.cat([cache, tokens[:, None]], dim=1)
        else:
            assert cache.shape[1] == 0, "tokens=None only at the first step"
        self.caches.append(cache)
        return self.fn(state.users, cache), TableState(state.users, cache, state.beams)

    def reorder(self, state: TableState, rows: torch.Tensor) -> TableState:
        assert rows.shape == (len(state.users),) and rows.dtype == torch.long
        # A row may only come from a beam of the same user.
        assert torch.equal(rows // state.beams, torch.arange(len(rows)) // state.beams)
        self.reorders.append(rows)
        return TableState(state.users[rows], state.cache[rows], state.beams)


def random_table_model(ids: SemanticIds, n_users: int, seed: int, offset: int = 0) -> TableModel:
    """Gaussian logits for every (user, level, prefix), over a vocabulary with ``offset`` special
    tokens (given large logits, which the decoder must ignore) and one spare token at the end."""
    sizes = ids.codebook_sizes
    vocab = offset + sum(sizes) + 1
    n_prefixes = int(np.prod(sizes[:-1])) if len(sizes) > 1 else 1
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(n_users, len(sizes), n_prefixes, vocab, generator=gen) * 2
    table[..., :offset] = 50.0
    table[..., -1] = 50.0
    level_offsets = torch.from_numpy(ids.level_offsets(offset))

    def fn(users: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        depth = cache.shape[1]
        codes = cache - level_offsets[:depth]
        key = torch.zeros(len(cache), dtype=torch.long)
        for level in range(depth):  # levels of the ID, not rows
            key = key * sizes[level] + codes[:, level]
        return table[users % n_users, depth, key]

    return TableModel(fn)


def constrained_scores(
    model: TableModel,
    ids: SemanticIds,
    user_key: int,
    excluded: Collection[int] = (),
    offset: int = 0,
    temperature: float = 1.0,
) -> dict[int, float]:
    """Brute force, one item at a time: each permitted item's summed constrained log-probs
    (softmax at each level over the codes leading to at least one non-excluded item)."""
    codes = ids.codes
    banned = set(excluded)
    permitted = [i for i in range(ids.n_items) if i not in banned]
    starts = ids.level_offsets(offset)
    scores = {}
    for item in permitted:
        total = 0.0
        for level in range(ids.n_levels):
            prefix = codes[item, :level]
            allowed = sorted(
                {int(codes[j, level]) for j in permitted if (codes[j, :level] == prefix).all()}
            )
            cache = torch.as_tensor(prefix + starts[:level], dtype=torch.long)[None]
            logits = model.fn(torch.tensor([user_key]), cache)[0].double() / temperature
            row = logits[starts[level] + torch.tensor(allowed)].log_softmax(0)
            total += float(row[allowed.index(int(codes[item, level]))])
        scores[item] = total
    return scores


def raw_scores(model: TableModel, ids: SemanticIds, user_key: int) -> dict[int, float]:
    """Brute force for ``scoring="raw"``: each item's summed log-softmax over the whole row."""
    scores = {}
    starts = ids.level_offsets(0)
    for item, codes in enumerate(ids.codes):
        total = 0.0
        for level in range(ids.n_levels):
            cache = torch.as_tensor(codes[:level] + starts[:level], dtype=torch.long)[None]
            row = model.fn(torch.tensor([user_key]), cache)[0].double().log_softmax(0)
            total += float(row[starts[level] + codes[level]])
        scores[item] = total
    return scores


def ranked(scores: dict[int, float], k: int) -> tuple[list[int], list[float]]:
    """Top-``k`` of brute-force scores by (score desc, item asc), padded with PAD / -inf."""
    order = sorted(scores, key=lambda item: (-scores[item], item))[:k]
    pad = k - len(order)
    return order + [PAD] * pad, [scores[i] for i in order] + [float("-inf")] * pad


def unique_codes(sizes: tuple[int, ...], n_items: int, seed: int) -> np.ndarray:
    """``n_items`` distinct random code rows ``[n_items, len(sizes)]``."""
    flat = np.random.default_rng(seed).choice(int(np.prod(sizes)), n_items, replace=False)
    return np.stack(np.unravel_index(flat, sizes), axis=1).astype(np.int64)
