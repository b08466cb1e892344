"""Group-relative advantages: GRPO's z-score plus SRPO's closed-form Pass@k bonus.

Each user's ``n`` rollouts form a group. GRPO scores a rollout by how much better its reward
is than the group's: ``(R_i - mean) / std``. SRPO (GREAM, arXiv 2510.20815) adds the analytic
advantage of the Pass@k objective (k = 4): with ``c`` exact hits among ``n`` rollouts the
group's Pass@k is ``rho = 1 - C(n - c, k) / C(n, k)``, ``sigma = sqrt(rho (1 - rho))``, and

- a hit gets ``b = (1 - rho) / sigma``,
- a miss ``b = (1 - rho - C(n - c - 1, k - 1) / C(n - 1, k - 1)) / sigma``,
- ``b = 0`` when ``sigma = 0`` (no hit, or every k-subset holds one: c = n, or n = k).

It rewards finding the item at all among a few tries (the top-k list a recommender returns)
more than making one answer surer. Groups whose rewards are all equal carry no signal (their
z-score is 0 / 0) and are dropped (dynamic sampling); their share is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def pass_at_k_bonus(n: int, k: int) -> torch.Tensor:
    """The bonus for every hit count: float64 ``[n + 1, 2]``, row ``c`` = (hit, miss) bonus
    of a group with ``c`` exact hits among ``n`` rollouts. Needs ``1 <= k <= n``."""
    if not 1 <= k <= n:
        raise ValueError(f"Pass@k needs 1 <= k <= n (rollouts per user); got k={k}, n={n}")
    table = torch.zeros(n + 1, 2, dtype=torch.float64)
    for c in range(1, n):  # c = 0 and c = n have sigma = 0: no bonus
        rho = 1 - math.comb(n - c, k) / math.comb(n, k)
        sigma = math.sqrt(rho * (1 - rho))
        if sigma == 0:
            continue
        miss = 1 - rho - math.comb(n - c - 1, k - 1) / math.comb(n - 1, k - 1)
        table[c, 0], table[c, 1] = (1 - rho) / sigma, miss / sigma
    return table


@dataclass(frozen=True)
class GroupAdvantages:
    """``advantages [B, n]`` (0 in dropped groups) and which groups are ``kept [B]``."""

    advantages: torch.Tensor
    kept: torch.Tensor

    @property
    def zero_variance_share(self) -> float:
        """Share of groups dropped because all their rewards were equal."""
        return float((~self.kept).float().mean()) if len(self.kept) else 0.0


def group_advantages(
    rewards: torch.Tensor, hits: torch.Tensor, k: int | None = 4
) -> GroupAdvantages:
    """Advantages of ``rewards [B, n]`` whose exact hits are ``hits [B, n]`` (bool).

    z-score with the group's population standard deviation, plus the Pass@``k`` bonus of the
    group's hit count (``k=None``: none, plain GRPO). Rows whose rewards are all equal are
    dropped: ``kept`` False and advantages 0.
    """
    if rewards.shape != hits.shape or rewards.ndim != 2:
        raise ValueError(
            f"rewards and hits must both be [B, n]; got {tuple(rewards.shape)} and "
            f"{tuple(hits.shape)}"
        )
    kept = rewards.amax(dim=1) > rewards.amin(dim=1)
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, correction=0, keepdim=True)
    advantages = (rewards - mean) / torch.where(kept[:, None], std, 1.0)
    if k is not None:
        table = pass_at_k_bonus(rewards.shape[1], k).to(rewards.device, rewards.dtype)
        bonus = table[hits.sum(dim=1)]  # [B, 2]
        advantages = advantages + torch.where(hits, bonus[:, :1], bonus[:, 1:])
    return GroupAdvantages(advantages * kept[:, None], kept)
