"""Building blocks shared by the transformer sequence models (SASRec, BERT4Rec): the standard
pre-norm block and LiGR's gated variant, both around one ``SelfAttention``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """Multi-head self-attention under a mask (``attention_mask``: causal or bidirectional,
    padding keys masked out)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """x ``[B, L, D]``, allowed ``[B, 1, L, L]`` (query may attend to key) -> ``[B, L, D]``."""
        b, length, dim = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, dim // self.heads).unbind(2)
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=allowed,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(y.transpose(1, 2).reshape(b, length, dim))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block (attention + GELU feed-forward), stable without warm-up."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), allowed))
        return x + self.drop(self.ff(self.norm2(x)))


class SwiGLU(nn.Module):
    """The gated feed-forward of LLaMA and LiGR: ``down(dropout(SiLU(gate(x)) * up(x)))``,
    without biases (as LiGR and eSASRec use it)."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., D]`` -> ``[..., D]``."""
        return self.down(self.drop(F.silu(self.gate(x)) * self.up(x)))


class LiGRBlock(nn.Module):
    """LiGR's transformer layer (LinkedIn, "From Features to Transformers", arXiv 2502.03417),
    the layer of eSASRec: pre-norm like ``TransformerBlock``, but each residual branch is scaled
    by a learned sigmoid gate computed from the branch's (un-normalised) input, and the
    feed-forward is a bias-free SwiGLU. A gate near 0 lets the layer keep its input where a
    branch does not help (checked against RecTools' LiGRLayer, which eSASRec uses)."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.gate1 = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = SwiGLU(dim, ff_dim, dropout)
        self.gate2 = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """x ``[B, L, D]``, allowed ``[B, 1, L, L]`` (query may attend to key) -> ``[B, L, D]``."""
        x = x + torch.sigmoid(self.gate1(x)) * self.drop(self.attn(self.norm1(x), allowed))
        return x + torch.sigmoid(self.gate2(x)) * self.drop(self.ff(self.norm2(x)))


def attention_mask(is_item: torch.Tensor, causal: bool) -> torch.Tensor:
    """``[B, L]`` bool (True = real token) -> ``[B, 1, L, L]`` attention permission.

    A query sees the real keys (``causal``: only those earlier than or equal to it); every
    position may also see itself, so rows made only of padding never become all-masked (which
    would give NaN).
    """
    length = is_item.shape[1]
    allowed = is_item[:, None, :] | torch.eye(length, dtype=torch.bool, device=is_item.device)
    if causal:
        allowed &= torch.ones(length, length, dtype=torch.bool, device=is_item.device).tril()
    return allowed.unsqueeze(1)
