"""Most-popular items: the floor every model has to clear.

Ignores the history and recommends the items with the most training interactions. It is the
sanity check of the harness (its numbers are easy to reason about) and the lower bound in
every results table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from genrec.data.dataset import Sequences
from genrec.errors import DataError, NotFittedError
from genrec.models.recommender import Capabilities, topk_excluding

if TYPE_CHECKING:
    from genrec.prefs.preference import PreferenceInput


class Popularity:
    """Rank items by training interaction count; ties go to the lower item index.

    >>> model = Popularity(n_items).fit(split.train)
    >>> items, scores = model.recommend(histories, k=10)
    """

    def __init__(self, n_items: int) -> None:
        if n_items < 1:
            raise ValueError(f"n_items must be >= 1; got {n_items}")
        self.n_items = int(n_items)
        self.counts: torch.Tensor | None = None  # [n_items] float32, set by fit
        self.capabilities = Capabilities()  # counts on the CPU: no modules

    def fit(self, train: Sequences) -> Popularity:
        """Count every training interaction (repeats count each time); returns self."""
        items = np.asarray(train.items, dtype=np.int64)
        if items.size and (items.min() < 0 or items.max() >= self.n_items):
            raise DataError(
                f"Popularity.fit: training items range over [{items.min()}, {items.max()}], "
                f"outside the catalog [0, {self.n_items}); build the model with the split's "
                "n_items (Popularity(split.n_items))."
            )
        counts = np.bincount(items, minlength=self.n_items)
        # float32 holds counts exactly up to 2**24 per item, far above any public dataset.
        self.counts = torch.from_numpy(counts).to(torch.float32)
        return self

    def recommend(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` most popular items per row of ``histories [B, L]``, minus ``exclude``.

        Returns ``(items [B, k] int64, scores [B, k] float32)``; scores are training counts.
        The history and ``preferences`` do not change the ranking.
        """
        if self.counts is None:
            raise NotFittedError(
                "Popularity is not fitted yet; call Popularity(n_items).fit(split.train) "
                "before recommend."
            )
        if histories.ndim != 2:
            raise ValueError(f"histories must be [B, L]; got shape {tuple(histories.shape)}")
        if exclude is not None and exclude.shape[0] != histories.shape[0]:
            raise ValueError(
                f"exclude has {exclude.shape[0]} rows but histories has {histories.shape[0]}"
            )
        scores = self.counts.expand(histories.shape[0], self.n_items)
        if exclude is not None:
            exclude = exclude.to(torch.long).cpu()
        return topk_excluding(scores, k, exclude)
