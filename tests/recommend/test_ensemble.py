"""Ensemble: members decoded together rank items by the mean of their log-probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec.data.windows import PAD
from genrec.recommend.ensemble import Ensemble, ensemble
from genrec.recommend.generative import GenerativeRecommender
from genrec.sid.semantic_ids import SemanticIds

from ..decoding.toy_models import TableModel, random_table_model, unique_codes

SIZES = (3, 3, 2)
IDS = SemanticIds(unique_codes(SIZES, 14, seed=0), SIZES)
N_USERS = 5
HISTORIES = torch.tensor([[PAD, 0], [2, 1], [3, 4], [PAD, PAD]])


def id_logprobs(model: TableModel, offset: int, users: torch.Tensor, cache: torch.Tensor):
    """A member's log-softmax over the ID tokens only, fed its own (offset) tokens."""
    return model.fn(users, cache + offset)[:, offset : offset + IDS.vocab_size].log_softmax(-1)


def test_equals_beam_search_over_the_mean_of_members_log_probabilities() -> None:
    # Members with their ID tokens at different offsets (and large logits on the special tokens
    # around them, which must not leak into the mean).
    first = random_table_model(IDS, N_USERS, seed=1, offset=1)
    second = random_table_model(IDS, N_USERS, seed=2, offset=3)

    def mean(users: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        return (id_logprobs(first, 1, users, cache) + id_logprobs(second, 3, users, cache)) / 2

    combined = GenerativeRecommender(Ensemble([(first, 1), (second, 3)], IDS.vocab_size), IDS, 8)
    reference = GenerativeRecommender(TableModel(mean), IDS, 8)
    items, scores = combined.recommend(HISTORIES, k=8)
    expected_items, expected_scores = reference.recommend(HISTORIES, k=8)
    assert items.tolist() == expected_items.tolist()
    torch.testing.assert_close(scores, expected_scores)
    # Both members were stepped with the rows each beam kept.
    assert len(first.reorders) == len(second.reorders) == IDS.n_levels - 1


def test_a_model_with_itself_decodes_as_the_model_alone() -> None:
    model = random_table_model(IDS, N_USERS, seed=3, offset=2)
    alone = GenerativeRecommender(model, IDS, beams=6, token_offset=2)
    twice = ensemble([alone, alone])
    assert twice.beams == 6 and twice.token_offset == 0
    items, scores = twice.recommend(HISTORIES, k=5, exclude=torch.tensor([[1], [PAD], [0], [2]]))
    expected = alone.recommend(HISTORIES, k=5, exclude=torch.tensor([[1], [PAD], [0], [2]]))
    assert items.tolist() == expected[0].tolist()
    torch.testing.assert_close(scores, expected[1])


def test_members_must_share_their_ids_and_be_step_models() -> None:
    model = random_table_model(IDS, N_USERS, seed=0)
    other_ids = SemanticIds(np.roll(IDS.codes, 1, axis=0), SIZES)
    members = [GenerativeRecommender(model, IDS), GenerativeRecommender(model, other_ids)]
    with pytest.raises(ValueError, match="member 1 has other semantic IDs"):
        ensemble(members)
    with pytest.raises(ValueError, match="at least one"):
        ensemble([])
    with pytest.raises(TypeError, match="not a StepModel"):
        Ensemble([(object(), 0)], IDS.vocab_size)  # type: ignore[list-item]


def test_the_first_members_cold_items_apply() -> None:
    from genrec.recommend.cold_items import ColdItems, ColdItemsConfig

    model = random_table_model(IDS, N_USERS, seed=3, offset=2)
    cold = np.arange(IDS.n_items) % 3 == 0
    text = np.random.default_rng(0).normal(size=(IDS.n_items, 4)).astype(np.float32)
    config = ColdItemsConfig(items="text", slots=2, text_weight=1.0, prefix_weight=1.0, bias=5.0)
    alone = GenerativeRecommender(
        model, IDS, beams=6, token_offset=2, cold=ColdItems(text, cold, IDS, config)
    )
    twice = ensemble([alone, alone])
    assert twice.cold is alone.cold
    items, scores = twice.recommend(HISTORIES, k=5)
    expected = alone.recommend(HISTORIES, k=5)
    assert items.tolist() == expected[0].tolist() and cold[items[:, :2]].all()
    torch.testing.assert_close(scores, expected[1])
