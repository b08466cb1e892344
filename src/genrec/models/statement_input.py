"""How preference statements enter a generator: pooled sentence vectors -> a few input vectors.

A user may bring several statements; their sentence embeddings (``[B, S, D]``, from the frozen
encoder, zero rows where a user has fewer) are mean-pooled, so the input has one size whatever
the number of statements and "all statements of a step" sits between the single statements it
holds. A small MLP turns the pooled vector into ``tokens`` vectors of the network's width:
prefix vectors of the decoder-only model, extra encoder positions of TIGER.
"""

from __future__ import annotations

import torch
from torch import nn


class StatementInput(nn.Module):
    """``[B, S, D]`` statement vectors -> (``[B, tokens, hidden]`` inputs, ``[B]`` bool: the
    user has at least one statement; the others' inputs are to be masked out)."""

    def __init__(self, statement_dim: int, tokens: int, hidden: int) -> None:
        super().__init__()
        self.tokens = tokens
        self.hidden = hidden
        self.mlp = nn.Sequential(
            nn.Linear(statement_dim, hidden), nn.GELU(), nn.Linear(hidden, tokens * hidden)
        )

    def forward(self, statements: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if statements.ndim != 3 or statements.shape[2] != self.mlp[0].in_features:
            raise ValueError(
                f"statements must be [B, S, {self.mlp[0].in_features}] sentence vectors; got "
                f"shape {tuple(statements.shape)} (encode them with the recipe's prefs.encoder)"
            )
        weight = self.mlp[0].weight
        statements = statements.to(weight.device, weight.dtype)
        present = statements.abs().sum(2) > 0  # [B, S]
        count = present.sum(1)
        pooled = (statements * present[:, :, None]).sum(1) / count.clamp(min=1)[:, None]
        vectors = self.mlp(pooled).view(len(statements), self.tokens, self.hidden)
        return vectors, count > 0
