"""Several generators over the same semantic IDs, decoded as one (a product of experts).

Runs trained with different seeds (or different networks: TIGER and decoder-only) make
different mistakes; decoding with the mean of their next-token log-probabilities ranks items by
the geometric mean of the members' item probabilities, which is usually better than any one
member, at the sum of their decoding costs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from genrec.models.step_model import DecodeState, StepModel
from genrec.recommend.generative import GenerativeRecommender


class Ensemble:
    """A ``StepModel`` whose next-token log-probabilities are the mean of its members'.

    Members may put the ID tokens at different offsets of their vocabularies (TIGER's user
    tokens): ``members`` pairs each network with its ``token_offset``, and the ensemble's
    vocabulary is the ``n_tokens`` ID tokens alone, from 0 (decode it with ``token_offset=0``).
    Averaging log-probabilities rather than probabilities keeps an item's score a sum over its
    ID levels; beam search renormalises each level over the codes the trie allows.
    """

    def __init__(self, members: Sequence[tuple[StepModel, int]], n_tokens: int) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        for model, offset in members:
            if not isinstance(model, StepModel):
                raise TypeError(f"ensemble member {type(model).__name__} is not a StepModel")
            if offset < 0:
                raise ValueError(f"token offsets must be >= 0; got {offset}")
        self.members = tuple(members)
        self.n_tokens = int(n_tokens)

    @property
    def parts(self) -> tuple[StepModel, ...]:
        """The networks it decodes with (a GenerativeRecommender's modules)."""
        return tuple(model for model, _ in self.members)

    def start(
        self, histories: torch.Tensor, beams: int, preferences: torch.Tensor | None = None
    ) -> list[DecodeState]:
        extra = {} if preferences is None else {"preferences": preferences}
        return [model.start(histories, beams, **extra) for model, _ in self.members]

    def step(
        self, state: list[DecodeState], tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[DecodeState]]:
        logps, states = [], []
        for (model, offset), member_state in zip(self.members, state, strict=True):
            logits, new_state = model.step(
                member_state, None if tokens is None else tokens + offset
            )
            ids = logits[:, offset : offset + self.n_tokens].float()
            logps.append(ids.log_softmax(dim=-1))
            states.append(new_state)
        return torch.stack(logps).mean(dim=0), states

    def reorder(self, state: list[DecodeState], rows: torch.Tensor) -> list[DecodeState]:
        return [
            model.reorder(member_state, rows)
            for (model, _), member_state in zip(self.members, state, strict=True)
        ]


def ensemble(recommenders: Sequence[GenerativeRecommender]) -> GenerativeRecommender:
    """One recommender decoding ``recommenders`` together, with the first one's beams.

    They must share their semantic IDs (the same code for every item), since the search walks
    one trie; each keeps its own precision (the first one's scoring and cold items apply).
    """
    if not recommenders:
        raise ValueError("an ensemble needs at least one recommender")
    first = recommenders[0]
    for i, other in enumerate(recommenders[1:], start=1):
        if other.ids.codebook_sizes != first.ids.codebook_sizes or not np.array_equal(
            other.ids.codes, first.ids.codes
        ):
            raise ValueError(
                f"ensemble member {i} has other semantic IDs than member 0: members must "
                "decode the same IDs (train them with the same `ids`)"
            )
    members = [(rec.model, rec.token_offset) for rec in recommenders]
    return GenerativeRecommender(
        Ensemble(members, first.ids.vocab_size),
        first.ids,
        beams=first.beams,
        max_rows=first.max_rows,
        scoring=first.scoring,
        cold=first.cold,
    )
