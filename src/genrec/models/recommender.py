"""The one contract every model implements: the harness, CLI and HTTP service call only this.

Histories travel as a LongTensor ``[B, L]`` of item indices, left-padded with ``PAD`` (-1) so
the most recent item is always in the last column. ``exclude`` uses the same layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch

#: Padding value in history / exclude tensors (item indices start at 0).
PAD = -1


@runtime_checkable
class Recommender(Protocol):
    """Anything that turns histories into a ranked list of items.

    ``recommend`` returns ``(items [B, k], scores [B, k])``, best first; scores are
    comparable within a row only. Ties are broken by the lower item index so results are
    deterministic. Items in ``exclude`` (``[B, E]``, ``PAD``-padded) never appear.
    ``preferences`` (one string per user) is accepted by every model; models that cannot use
    it ignore it.
    """

    n_items: int

    def recommend(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: Sequence[str] | None = None,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


def pad_histories(
    histories: Sequence[Sequence[int] | np.ndarray], max_len: int | None = None
) -> torch.Tensor:
    """Left-pad variable-length histories into ``[B, L]`` (keeping the most recent items)."""
    if max_len is None:
        max_len = max((len(h) for h in histories), default=0)
    out = torch.full((len(histories), max(1, max_len)), PAD, dtype=torch.long)
    for row, history in enumerate(histories):
        tail = list(history)[-max_len:] if max_len else []
        if tail:
            out[row, -len(tail) :] = torch.as_tensor(tail, dtype=torch.long)
    return out


def topk_excluding(
    scores: torch.Tensor, k: int, exclude: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` of full-catalog ``scores [B, n_items]`` with ``exclude`` masked out.

    Ties go to the lower item index: candidates are ordered by (score desc, index asc).
    """
    n_items = scores.shape[1]
    if k > n_items:
        raise ValueError(f"k={k} is larger than the catalog ({n_items} items)")
    scores = scores.float().clone()
    if exclude is not None and exclude.numel():
        rows = torch.arange(scores.shape[0]).unsqueeze(1).expand_as(exclude)
        valid = exclude != PAD
        scores[rows[valid], exclude[valid]] = float("-inf")
    # A stable sort on descending score keeps ascending index order among equal scores.
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    return order, torch.gather(scores, 1, order)
