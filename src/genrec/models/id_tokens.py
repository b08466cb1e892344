"""Item -> semantic-ID token mapping shared by the generators (TIGER, decoder-only).

A generator's vocabulary is ``[special tokens | ID tokens]``: ``token_offset`` special tokens
(pad first, so token 0 is padding) followed by the flat ID vocabulary of
``SemanticIds.tokens(items, offset=token_offset)``. Histories arrive as item indices
left-padded with ``PAD`` (-1); each real item becomes its ``L'`` ID tokens, each ``PAD`` item
``L'`` pad tokens, so a left-padded history stays a left-padded token sequence.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genrec.data.windows import PAD
from genrec.sid.semantic_ids import SemanticIds

#: Token 0 of every generator vocabulary is padding (also T5's decoder start token).
PAD_TOKEN = 0


class ItemTokens(nn.Module):
    """Lookup of the ``[n_items, L']`` token table of a ``SemanticIds`` at ``token_offset``.

    A module so the table moves with the model (``.to(device)``); its buffer is not saved in
    checkpoints: the IDs travel with the run as their own ``SemanticIds`` folder.
    """

    table: torch.Tensor

    def __init__(self, ids: SemanticIds, token_offset: int) -> None:
        super().__init__()
        if token_offset <= PAD_TOKEN:
            raise ValueError(f"token_offset must leave room for the pad token; got {token_offset}")
        self.n_items, self.n_levels = ids.n_items, ids.n_levels
        self.token_offset = token_offset
        table = np.asarray(ids.tokens(offset=token_offset), dtype=np.int64)
        self.register_buffer("table", torch.from_numpy(table.copy()), persistent=False)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """Item indices ``[..., n]`` (``PAD`` allowed) -> tokens ``[..., n * L']``.

        Raises ``IndexError`` for indices outside ``[PAD, n_items)``.
        """
        items = items.to(self.table.device, torch.long)
        if items.numel() and (items.min() < PAD or items.max() >= self.n_items):
            raise IndexError(
                f"item indices must be PAD ({PAD}) or lie in [0, {self.n_items}); got "
                f"{int(items.min())}..{int(items.max())} (are the SemanticIds those of this data?)"
            )
        tokens = self.table[items.clamp(min=0)]  # [..., n, L']
        tokens = tokens.masked_fill((items == PAD).unsqueeze(-1), PAD_TOKEN)
        return tokens.flatten(-2)
