"""How preference statements enter a generator: pooled sentence vectors -> a few input vectors.

A user may bring several statements; their sentence embeddings (``[B, S, D]``, from the frozen
encoder, zero rows where a user has fewer) are mean-pooled, so the input has one size whatever
the number of statements and "all statements of a step" sits between the single statements it
holds. A small MLP turns the pooled vector into ``tokens`` vectors of the network's width:
prefix vectors of the decoder-only model, extra encoder positions of TIGER.

Statements may come with what they are about (``genrec.prefs.preference.About``) as one more
column, ``[B, S, D + 1]``: +1 for the item the user wants next, -1 for their history, 0 for
an empty row (``genrec.prefs.preference.ABOUT_COLUMN``). A model built with ``about`` pools the
two kinds apart and reads both pools, so it can follow a statement of what the user wants
without mistaking a summary of what they had for one; a model without it pools every
statement, as before.
"""

from __future__ import annotations

import torch
from torch import nn


class StatementInput(nn.Module):
    """``[B, S, D]`` (or ``[B, S, D + 1]`` with the about column) statement vectors ->
    (``[B, tokens, hidden]`` inputs, ``[B]`` bool: the user has at least one statement; the
    others' inputs are to be masked out)."""

    def __init__(self, statement_dim: int, tokens: int, hidden: int, about: bool = False) -> None:
        super().__init__()
        self.statement_dim = statement_dim
        self.tokens = tokens
        self.hidden = hidden
        self.about = about
        pools = 2 if about else 1
        self.mlp = nn.Sequential(
            nn.Linear(pools * statement_dim, hidden), nn.GELU(), nn.Linear(hidden, tokens * hidden)
        )

    def forward(self, statements: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dim = self.statement_dim
        if statements.ndim != 3 or statements.shape[2] not in (dim, dim + 1):
            raise ValueError(
                f"statements must be [B, S, {dim}] sentence vectors (or [B, S, {dim + 1}] with "
                f"the about column); got shape {tuple(statements.shape)} (encode them with the "
                "recipe's prefs.encoder)"
            )
        weight = self.mlp[0].weight
        statements = statements.to(weight.device, weight.dtype)
        vectors = statements[:, :, :dim]
        present = vectors.abs().sum(2) > 0  # [B, S]
        # without the about column every statement is about the next item
        about = statements[:, :, dim] if statements.shape[2] > dim else present.float()
        if self.about:
            wanted, had = present & (about > 0), about < 0
            pooled = torch.cat([_mean(vectors, wanted), _mean(vectors, had)], 1)
        else:
            pooled = _mean(vectors, present)
        out = self.mlp(pooled).view(len(statements), self.tokens, self.hidden)
        return out, present.any(1)


def _mean(vectors: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The mean of ``vectors [B, S, D]`` over the ``rows [B, S]`` marked (zeros where none)."""
    count = rows.sum(1).clamp(min=1)[:, None]
    return (vectors * rows[:, :, None]).sum(1) / count
