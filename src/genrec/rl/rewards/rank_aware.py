"""MiniOneRec's rank-aware reward for beam rollouts.

Kong et al., "MiniOneRec: An Open-Source Framework for Scaling Generative Recommendation"
(arXiv:2510.24431, 2025), RL stage: rollouts are the ``n`` items of a constrained beam search,
and the reward is the sum of a rule reward (1 for the target item, 0 otherwise) and a
rank-aware penalty for the wrong items of a group that contains the target: the item at beam
rank ``r`` (0 = best) loses ``w_r / sum_j w_j`` with ``w_r = 1 / log2(r + 2)``, NDCG's
discount normalised over the group. A wrong item the model ranks high costs more than one it
ranks low, so the update pushes the target up the list rather than only towards it. A group
without the target gets 0 throughout (no signal: dropped), as in the released code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from genrec.rl.rewards.reward import Reward
from genrec.sid.semantic_ids import SemanticIds


def rank_penalty(n: int) -> torch.Tensor:
    """The penalty of a wrong item at each beam rank of a group of ``n``: float32 ``[n]``,
    ``w_r / sum(w)`` with ``w_r = 1 / log2(r + 2)`` (decreasing, summing to 1)."""
    discount = 1.0 / torch.log2(torch.arange(n, dtype=torch.float64) + 2)
    return (discount / discount.sum()).float()


@dataclass(frozen=True)
class RankAwareReward(Reward):
    """1 for the target item; ``-rank_penalty(n)[r]`` for a wrong item at beam rank ``r`` in a
    group that holds the target; 0 in a group without it (and for a malformed output)."""

    ranked: ClassVar[bool] = True  # column r is beam rank r: beam rollouts only

    def score(
        self, ids: SemanticIds, items: torch.Tensor, targets: torch.Tensor, hits: torch.Tensor
    ) -> torch.Tensor:
        penalty = rank_penalty(items.shape[1]).to(items.device)  # [n]
        missed = ~hits & hits.any(dim=1, keepdim=True)  # wrong items of groups with the target
        return hits.float() - missed * penalty
