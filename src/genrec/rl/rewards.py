"""Verifiable rewards of a rollout: did it produce the user's next item, or how much of its ID?

REFERENCE.md §5 (GREAM's SRPO): 1 for the exact item; otherwise partial credit ``c_l`` for the
length ``l`` of the ID prefix the rollout shares with the target (0 when not even the first
level matches). Exact means the same item, never the same code (items that share an ID, built
without dedup, are still different items). Partial credit turns groups whose rollouts all miss
into groups with signal: with an exact-match reward most groups carry no advantage at all.
In reasoning mode an answer counts only when the output is well formed: ``format_ok`` is that
gate (0 for a malformed output); IDs decoded under the trie always are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from genrec.sid.semantic_ids import SemanticIds

#: GREAM's credits c_1..c_4 (about sqrt(l / 4)); longer matched prefixes keep the last one.
PREFIX_CREDIT = (0.5, 0.707, 0.866, 0.95)


def matched_prefix(ids: SemanticIds, items: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """How many leading ID levels each rollout shares with its user's target: ``items [B, n]``
    and ``targets [B]`` (item indices) -> int64 ``[B, n]`` in ``[0, L']``."""
    codes = torch.as_tensor(np.array(ids.codes))  # [n_items, L'] (a writable copy)
    for name, tensor in (("items", items), ("targets", targets)):
        if tensor.numel() and (tensor.min() < 0 or tensor.max() >= ids.n_items):
            raise ValueError(
                f"{name} must be item indices in [0, {ids.n_items}); got "
                f"{int(tensor.min())}..{int(tensor.max())} (a rollout must be a real item)"
            )
    same = codes[items.cpu()] == codes[targets.cpu()][:, None, :]  # [B, n, L']
    return same.long().cumprod(dim=2).sum(dim=2).to(items.device)


def rewards(
    ids: SemanticIds,
    items: torch.Tensor,
    targets: torch.Tensor,
    credit: Sequence[float] = PREFIX_CREDIT,
    format_ok: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reward of each rollout ``items [B, n]`` for its user's ``targets [B]`` -> float32 ``[B, n]``.

    1 for the target item itself; else ``credit[l - 1]`` for a matched ID prefix of length
    ``l >= 1`` (the last credit for longer prefixes; ``credit=()`` gives the exact-match reward
    of plain GRPO); else 0. ``format_ok [B, n]`` (bool) zeroes malformed outputs.
    """
    if any(not 0 <= c < 1 for c in credit):
        raise ValueError(f"prefix credits must lie in [0, 1) (below an exact hit); got {credit}")
    table = torch.tensor([0.0, *credit], device=items.device)
    matched = matched_prefix(ids, items, targets).clamp(max=len(credit))
    reward = torch.where(items == targets[:, None], 1.0, table[matched])
    if format_ok is not None:
        reward = reward * format_ok.to(reward.device, torch.bool)
    return reward
