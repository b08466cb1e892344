"""Cold items: returning items the generator never saw in training, scored from their text.

A generator trained without an item gives its ID almost no probability, even when the item got
an ID from its text (``SemanticIds.add_items``): on Beauty with 5% of items held out of
training, beam search returned none of 1,081 cold test targets (benchmarks/cold_start.py).
``ColdItems`` scores the catalog's cold items (those with no training interaction) for each
user from what is known without training on them:

- their text's cosine similarity to the user's history (the recency-weighted mean of the
  history items' text embeddings, ``recency ** steps back``), and
- the model's log-probability of their first ID code (the first level of the beam search: the
  kind of item the user is expected to want next),

as ``bias + text_weight * similarity + prefix_weight * log p(first code)``, a score on the
scale of the beam scores (summed log-probabilities), and merges at most ``slots`` of them into
the generated list by that score. The knobs are chosen on validation (benchmarks/cold_start.py).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from genrec.config import bounded, configclass
from genrec.data.dataset import Sequences
from genrec.data.windows import PAD
from genrec.decoding.beam_search import ranked_topk
from genrec.models.step_model import DecodeState, StepModel
from genrec.sid.semantic_ids import SemanticIds


@configclass
class ColdItemsConfig:
    """How a generative recommender returns items unseen in training (``decode.cold``)."""

    # "text": merge the best-scored cold items (no training interaction) into the generated
    # list; "off": the generated list alone (a generator trained without them never ranks them).
    items: Literal["off", "text"] = "off"
    # At most this many cold items per list: the rest of the list is the generator's.
    # The defaults are the knobs chosen on Beauty validation (benchmarks/cold_start.py; the
    # bias sets how often cold items get in: there, 3% of the top-10 slots).
    slots: int = bounded(3, ge=1)
    text_weight: float = bounded(40.0, ge=0)
    prefix_weight: float = bounded(0.5, ge=0)
    bias: float = bounded(-36.0, ge=-1e4, le=1e4)  # the scale of summed log-probabilities
    # A history item t steps back weighs recency ** t in the user's text profile (1: the mean).
    recency: float = bounded(0.35, gt=0, le=1)


def untrained_items(train: Sequences, n_items: int) -> np.ndarray:
    """bool ``[n_items]``: True for the items with no interaction in ``train`` (the cold ones).
    Read from the training data only, never from the cases being evaluated."""
    seen = np.zeros(n_items, dtype=bool)
    seen[train.items] = True
    return ~seen


class FirstLevel:
    """A ``StepModel`` that passes every call to ``model`` and keeps the logits of its first
    step (the model's distribution over the first ID code), which the cold scorer reads."""

    def __init__(self, model: StepModel) -> None:
        self.model = model
        self.logits: torch.Tensor | None = None  # [B * rows, V] after the first step

    def start(
        self, histories: torch.Tensor, beams: int, preferences: torch.Tensor | None = None
    ) -> DecodeState:
        extra = {} if preferences is None else {"preferences": preferences}
        return self.model.start(histories, beams, **extra)

    def step(
        self, state: DecodeState, tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, DecodeState]:
        logits, state = self.model.step(state, tokens)
        if tokens is None:
            self.logits = logits
        return logits, state

    def reorder(self, state: DecodeState, rows: torch.Tensor) -> DecodeState:
        return self.model.reorder(state, rows)


class ColdItems:
    """Scores the ``cold [n_items]`` items of a catalog for each user and merges the best into
    generated lists. ``embeddings [n_items, D]`` are the items' text embeddings (any scale);
    ``ids`` gives each cold item's first code."""

    def __init__(
        self,
        embeddings: np.ndarray,
        cold: np.ndarray,
        ids: SemanticIds,
        config: ColdItemsConfig,
    ) -> None:
        if embeddings.ndim != 2 or len(embeddings) != ids.n_items or len(cold) != ids.n_items:
            raise ValueError(
                f"embeddings [{ids.n_items}, D] and cold [{ids.n_items}] must have a row per "
                f"item of the IDs; got {embeddings.shape} and {cold.shape}"
            )
        vectors = torch.from_numpy(np.asarray(embeddings, dtype=np.float32))
        self.vectors = torch.nn.functional.normalize(vectors, dim=1)  # [n_items, D]
        self.n_items = ids.n_items
        self.items = torch.from_numpy(np.flatnonzero(cold))  # [C] item indices
        self.first_codes = torch.from_numpy(ids.codes[self.items.numpy(), 0].astype(np.int64))
        self.config = config

    def similarity(self, histories: torch.Tensor) -> torch.Tensor:
        """Cosine ``[B, C]`` of each cold item's text to the user's profile: the mean of the
        ``histories [B, L]`` items' embeddings weighted ``recency ** steps back`` (0 when the
        history is empty)."""
        profile = self.vectors.new_zeros(len(histories), self.vectors.shape[1])  # [B, D]
        for back, column in enumerate(histories.flip(1).T):  # columns, newest first: [B] each
            weight = self.config.recency**back * (column != PAD)
            profile += weight[:, None] * self.vectors[column.clamp(min=0)]
        return torch.nn.functional.normalize(profile, dim=1) @ self.vectors[self.items].T

    def scores(self, histories: torch.Tensor, first_level: torch.Tensor) -> torch.Tensor:
        """Each cold item's score ``[B, C]`` on the beam scores' scale, from ``histories
        [B, L]`` and the model's log-probabilities of the first ID code ``first_level [B, K]``."""
        cfg = self.config
        prefix = first_level.float().cpu()[:, self.first_codes]
        # A code the model rules out (-inf) must not make every weight's 0 * -inf a NaN.
        prefix = prefix.clamp(min=-1e4) if cfg.prefix_weight else torch.zeros_like(prefix)
        return cfg.bias + cfg.text_weight * self.similarity(histories) + cfg.prefix_weight * prefix

    def merge(
        self,
        items: torch.Tensor,
        scores: torch.Tensor,
        histories: torch.Tensor,
        first_level: torch.Tensor,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Generated ``(items [B, k], scores [B, k])`` with at most ``slots`` cold items merged
        in by score, ties to the lower item index. A cold item already in the list or in
        ``exclude [B, E]`` is not added; rows stay ``k`` long (``PAD`` / ``-inf`` at the end)."""
        device = items.device
        items, scores = items.cpu(), scores.cpu()
        cold = self.scores(histories.cpu(), first_level)  # [B, C]
        taken = items if exclude is None else torch.cat([items, exclude.cpu().long()], dim=1)
        # Which cold item (if any) each taken entry is: [B, T] positions in the sorted items.
        at = torch.searchsorted(self.items, taken).clamp(max=max(len(self.items) - 1, 0))
        hit = (self.items[at] == taken) if len(self.items) else torch.zeros_like(taken, dtype=bool)
        listed = torch.zeros(len(items), len(self.items) + 1, dtype=torch.bool)  # + a spare
        listed.scatter_(1, at.masked_fill(~hit, len(self.items)), True)
        cold.masked_fill_(listed[:, :-1], -torch.inf)
        best, at = ranked_topk(cold, min(self.config.slots, cold.shape[1]))  # ties: lower item
        extra = self.items[at].masked_fill(best == -torch.inf, PAD)
        items, scores = torch.cat([items, extra], dim=1), torch.cat([scores, best], dim=1)
        by_item = items.masked_fill(items == PAD, self.n_items).argsort(dim=1, stable=True)
        by_score = scores.gather(1, by_item).argsort(dim=1, descending=True, stable=True)
        order = by_item.gather(1, by_score)[:, : items.shape[1] - extra.shape[1]]
        return items.gather(1, order).to(device), scores.gather(1, order).to(device)

    def __repr__(self) -> str:
        return f"ColdItems({len(self.items)} items, {self.config})"
