"""The exact-match reward of plain GRPO: 1 for the user's next item, 0 for anything else.

With it, a group whose rollouts all miss (most of them, early on) carries no signal at all:
its rewards are all equal and it is dropped (``genrec.rl.advantages``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genrec.rl.rewards.reward import Reward
from genrec.sid.semantic_ids import SemanticIds


@dataclass(frozen=True)
class ExactReward(Reward):
    """1 for the target item, 0 otherwise (and for a malformed output)."""

    def score(
        self, ids: SemanticIds, items: torch.Tensor, targets: torch.Tensor, hits: torch.Tensor
    ) -> torch.Tensor:
        return hits.float()
