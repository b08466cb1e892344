"""SRPO's prefix reward (GREAM, arXiv 2510.20815): partial credit for a matched ID prefix.

1 for the exact item; otherwise credit ``c_l`` for the length ``l`` of the ID prefix the
rollout shares with the target (the last credit for longer prefixes; 0 when not even the first
level matches). Partial credit turns groups whose rollouts all miss into groups with signal:
with an exact-match reward most groups carry no advantage at all. No credits at all
(``rl.prefix_credit: []``) is the exact-match reward of plain GRPO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from genrec.rl.rewards.reward import Reward, check_rollouts
from genrec.sid.semantic_ids import SemanticIds

#: GREAM's credits c_1..c_4 (about sqrt(l / 4)); longer matched prefixes keep the last one.
PREFIX_CREDIT = (0.5, 0.707, 0.866, 0.95)


def matched_prefix(ids: SemanticIds, items: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """How many leading ID levels each rollout shares with its user's target: ``items [B, n]``
    and ``targets [B]`` (item indices) -> int64 ``[B, n]`` in ``[0, L']``."""
    check_rollouts(ids, items, targets)
    codes = torch.as_tensor(np.array(ids.codes))  # [n_items, L'] (a writable copy)
    same = codes[items.cpu()] == codes[targets.cpu()][:, None, :]  # [B, n, L']
    return same.long().cumprod(dim=2).sum(dim=2).to(items.device)


@dataclass(frozen=True)
class PrefixReward(Reward):
    """1 for the target item; else ``credit[l - 1]`` for a matched ID prefix of length
    ``l >= 1`` (the last credit for longer prefixes; ``credit=()``: exact match only); else 0.
    A malformed output gets 0."""

    credit: Sequence[float] = PREFIX_CREDIT

    def __post_init__(self) -> None:
        if any(not 0 <= c < 1 for c in self.credit):
            raise ValueError(
                f"prefix credits must lie in [0, 1) (below an exact hit); got {self.credit}"
            )

    def score(
        self, ids: SemanticIds, items: torch.Tensor, targets: torch.Tensor, hits: torch.Tensor
    ) -> torch.Tensor:
        table = torch.tensor([0.0, *self.credit], device=items.device)
        matched = matched_prefix(ids, items, targets).clamp(max=len(self.credit))
        return torch.where(hits, 1.0, table[matched])
