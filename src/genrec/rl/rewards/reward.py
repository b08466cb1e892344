"""The interface every RL reward follows, and the pieces each of them needs.

A reward scores each of a user's ``n`` rollouts (a group) against the user's next item. The
rollouts are real items (``items [B, n]``, item indices); column ``j`` is the ``j``-th rollout,
which for beam rollouts (``rl.rollout: beam``) is the ``j``-th best item of the beam search, its
rank. Exact means the same item, never the same code (items that share an ID, built without
dedup, are still different items). In reasoning mode an answer counts only when the output is
well formed: ``format_ok [B, n]`` is that gate, and every reward gives a malformed output 0 and
counts it as no hit; IDs decoded under the trie always are well formed (``None``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from genrec.sid.semantic_ids import SemanticIds


class Reward(ABC):
    """Scores rollouts: ``(ids, items [B, n], targets [B], format_ok [B, n] or None)`` ->
    float32 ``[B, n]``. Built once from the ``rl:`` section (``genrec.rl.rewards.REWARDS``).

    A reward says only how it scores (``score``); every reward checks its rollouts and applies
    the format gate the same way (``__call__``).
    """

    #: Whether the reward reads a rollout's column as its rank, which only beam rollouts give
    #: (``rl.rollout: beam``): sampled rollouts come in no order.
    ranked: ClassVar[bool] = False

    def __call__(
        self,
        ids: SemanticIds,
        items: torch.Tensor,
        targets: torch.Tensor,
        format_ok: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_rollouts(ids, items, targets)
        reward = self.score(ids, items, targets, exact_hits(items, targets, format_ok))
        return gated(reward, format_ok)

    @abstractmethod
    def score(
        self, ids: SemanticIds, items: torch.Tensor, targets: torch.Tensor, hits: torch.Tensor
    ) -> torch.Tensor:
        """The rewards ``[B, n]`` before the format gate; ``hits [B, n]`` (bool): the rollout
        is its user's target and well formed."""


def check_rollouts(ids: SemanticIds, items: torch.Tensor, targets: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``items [B, n]`` and ``targets [B]`` are item indices of
    ``ids`` (a rollout must be a real item)."""
    for name, tensor in (("items", items), ("targets", targets)):
        if tensor.numel() and (tensor.min() < 0 or tensor.max() >= ids.n_items):
            raise ValueError(
                f"{name} must be item indices in [0, {ids.n_items}); got "
                f"{int(tensor.min())}..{int(tensor.max())} (a rollout must be a real item)"
            )


def exact_hits(
    items: torch.Tensor, targets: torch.Tensor, format_ok: torch.Tensor | None
) -> torch.Tensor:
    """Bool ``[B, n]``: the rollout is its user's target, and well formed."""
    hits = items == targets[:, None]
    if format_ok is not None:
        hits = hits & format_ok.to(hits.device, torch.bool)
    return hits


def gated(reward: torch.Tensor, format_ok: torch.Tensor | None) -> torch.Tensor:
    """``reward [B, n]`` with malformed outputs' entries set to 0 (the format gate)."""
    if format_ok is None:
        return reward
    return reward * format_ok.to(reward.device, torch.bool)
