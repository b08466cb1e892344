"""The statement-only baseline: items ranked by how close their text is to what the user said.

How far do the words alone go? An item scores the cosine between its text vector and the mean
of the request's positive statements (pooled as the statement-reading models pool them, the
first ``limit``), in the sentence encoder's one space; popularity breaks ties, so a request
without statements gets the most popular items. The history is ignored. It is a
``Recommender`` like any model, so the preference benchmark gives it a row beside them.
"""

from __future__ import annotations

import numpy as np
import torch

from genrec.models.recommender import PAD, Capabilities, topk_excluding
from genrec.prefs.preference import PreferenceInput, as_preferences
from genrec.prefs.vectors import StatementEncoder


class StatementOnly:
    """Ranks items by cosine to the statements; ``item_vectors [n_items, D]`` (unit rows) in
    the statements' encoder space, ``counts [n_items]`` training interactions per item."""

    def __init__(
        self,
        item_vectors: np.ndarray,
        counts: np.ndarray,
        encoder: StatementEncoder,
        limit: int = 5,
    ) -> None:
        self.n_items = len(item_vectors)
        self.encoder = encoder
        self.limit = limit
        self.capabilities = Capabilities(reads_preferences=True)
        # Items laid out most popular first (ties: lower index), so topk_excluding's tie rule
        # (the lower column) is popularity's.
        order = np.lexsort((np.arange(self.n_items), -np.asarray(counts)))
        self._item = torch.from_numpy(order.astype(np.int64))  # column -> item
        self._column = torch.empty_like(self._item)
        self._column[self._item] = torch.arange(self.n_items)  # item -> column
        self._vectors = torch.from_numpy(np.ascontiguousarray(item_vectors[order]))

    def recommend(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top ``k`` per user by cosine to the mean of their positive statements
        (``Recommender``); ``histories`` only give the batch size."""
        told = as_preferences(preferences, len(histories))
        # [B, S, D] (the about column dropped: both kinds describe what to look for), zero rows
        statements = self.encoder(told, self.limit)[:, :, : self.encoder.dim]
        count = statements.norm(dim=2).gt(0).sum(1, keepdim=True).clamp(min=1)
        scores = (statements.sum(1) / count) @ self._vectors.T  # [B, n_items] by column
        if exclude is not None:
            exclude = exclude.cpu().long()
            exclude = torch.where(exclude == PAD, PAD, self._column[exclude.clamp(min=0)])
        columns, values = topk_excluding(scores, k, exclude)
        items = torch.where(columns == PAD, PAD, self._item[columns.clamp(min=0)])
        return items, values
