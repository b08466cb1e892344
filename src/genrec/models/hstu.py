"""HSTU-style causal recommender (Zhai et al., 2024, "Actions Speak Louder than Words").

Each layer projects the normalised input once into four parts, ``U, V, Q, K = split(SiLU(f1(x)))``,
and replaces softmax attention by pointwise aggregated attention,
``A = SiLU(Q K^T + rab) / n`` with causal and padding masks, so weights do not compete and the
amount of history stays visible; ``U`` then gates the normalised ``A V`` before the output
projection ``f2`` and the residual. ``rab`` is a learned relative position bias per head over
bucketed distances (exact nearby, log-spaced far away). The published model adds a relative
*time* bias over bucketed log time gaps; genrec's Recommender contract and training windows
carry item indices only, and the P5 Amazon data has no timestamps, so this model has the
position bias alone. Training is SASRec's next-item objective (``ItemScorer``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genrec.config import bounded, configclass
from genrec.models.item_scorer import ItemScorer, Objective


@configclass
class HSTUConfig:
    # SASRec's size on Amazon 5-core data (64-d, 2 layers, 2 heads), the scale the eSASRec
    # authors compared HSTU at.
    hidden: int = bounded(64, ge=1)
    layers: int = bounded(2, ge=1)
    heads: int = bounded(2, ge=1)
    # HSTU's Amazon recipes use strong dropout (0.5) on the gated output: the data is sparse.
    dropout: float = bounded(0.5, ge=0, lt=1)
    # Relative position buckets: distances below half of them are exact, longer ones share
    # log-spaced buckets up to the history length.
    position_buckets: int = bounded(32, ge=2)
    # "ce": full softmax over all items; "sampled": the target against `negatives` uniform items.
    loss: Objective = "ce"
    negatives: int = bounded(256, ge=1)

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")


def relative_buckets(distance: torch.Tensor, buckets: int, max_distance: int) -> torch.Tensor:
    """Bucket of each non-negative ``distance`` (T5's scheme): exact below ``buckets // 2``,
    then log-spaced up to ``max_distance``, the last bucket holding everything beyond."""
    exact = buckets // 2
    distance = distance.clamp(min=0)
    span = math.log(max(max_distance, exact + 1) / exact)
    far = exact + (torch.log(distance.clamp(min=exact).float() / exact) / span * (buckets - exact))
    return torch.where(distance < exact, distance, far.long().clamp(max=buckets - 1))


class RelativePositionBias(nn.Module):
    """A learned bias per head for query ``i`` attending key ``j``, by the bucket of ``i - j``."""

    def __init__(self, heads: int, buckets: int, max_distance: int) -> None:
        super().__init__()
        self.buckets = buckets
        self.max_distance = max_distance
        self.bias = nn.Embedding(buckets, heads)
        nn.init.zeros_(self.bias.weight)  # start as plain pointwise attention

    def forward(self, length: int) -> torch.Tensor:
        """The bias ``[H, L, L]`` of a sequence of ``length`` positions."""
        position = torch.arange(length, device=self.bias.weight.device)
        distance = position[:, None] - position[None, :]
        buckets = relative_buckets(distance, self.buckets, self.max_distance)
        return self.bias(buckets).permute(2, 0, 1)


class HSTULayer(nn.Module):
    """One HSTU layer: gated pointwise aggregated attention with a relative position bias."""

    def __init__(self, dim: int, heads: int, dropout: float, buckets: int, max_len: int) -> None:
        super().__init__()
        self.heads = heads
        self.max_len = max_len
        self.norm = nn.LayerNorm(dim)
        self.uvqk = nn.Linear(dim, 4 * dim)
        self.rab = RelativePositionBias(heads, buckets, max_len)
        self.attn_norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """x ``[B, L, D]``, allowed ``[B, 1, L, L]`` (query may attend to key) -> ``[B, L, D]``."""
        b, length, dim = x.shape
        u, v, q, k = F.silu(self.uvqk(self.norm(x))).split(dim, dim=-1)
        q, k, v = (t.view(b, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        # Divided by the longest history, not the batch's width: a row's output is the same
        # in any batch and with any amount of left padding.
        weights = F.silu(q @ k.transpose(-1, -2) + self.rab(length)) / self.max_len
        attended = (weights * allowed) @ v  # [B, H, L, D / H]
        attended = attended.transpose(1, 2).reshape(b, length, dim)
        return x + self.out(self.drop(u * self.attn_norm(attended)))


class HSTU(ItemScorer):
    """Causal HSTU-style recommender over item indices; implements ``Recommender``."""

    def __init__(self, n_items: int, max_len: int, config: HSTUConfig | None = None) -> None:
        config = config or HSTUConfig()
        super().__init__(
            n_items, max_len, config.hidden, config.dropout, config.loss, config.negatives
        )
        self.config = config
        self.blocks = nn.ModuleList(
            HSTULayer(config.hidden, config.heads, config.dropout, config.position_buckets, max_len)
            for _ in range(config.layers)
        )
        self.init_items()
