"""GenerativeRecommender: the shared Recommender suite, plus what is specific to decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec.data.splits import Split
from genrec.decoding.beam_search import beam_search
from genrec.models.recommender import PAD, Recommender
from genrec.recommend.generative import GenerativeRecommender
from genrec.sid.semantic_ids import SemanticIds

from ..decoding.toy_models import random_table_model, unique_codes
from ..models.recommender_suite import N_ITEMS, RecommenderTests

SIZES = (3, 3, 2)  # 18 IDs for the suite's 15 items: some prefixes are missing
OFFSET = 1  # one special token before the ID tokens


def make_ids(n_items: int) -> SemanticIds:
    return SemanticIds(unique_codes(SIZES, n_items, seed=0), SIZES)


class TestGenerativeRecommender(RecommenderTests):
    def make_recommender(self, split: Split) -> GenerativeRecommender:
        ids = make_ids(split.n_items)
        # Logits depend on the last history item, so users get different lists.
        model = random_table_model(ids, split.n_items + 1, seed=0, offset=OFFSET)
        return GenerativeRecommender(model, ids, beams=20, token_offset=OFFSET)

    def test_lists_depend_on_the_history(
        self, model: GenerativeRecommender, histories: torch.Tensor
    ) -> None:
        items, _ = model.recommend(histories, k=5)
        assert len({tuple(row) for row in items.tolist()}) > 1


def test_uses_at_least_k_beams() -> None:
    ids = make_ids(N_ITEMS)
    model = random_table_model(ids, 3, seed=1)
    rec = GenerativeRecommender(model, ids, beams=2)
    histories = torch.tensor([[PAD, 1], [0, 2]])
    items, scores = rec.recommend(histories, k=6)
    want_items, want_scores = beam_search(model, ids, histories, 6, 6)
    assert torch.equal(items, want_items) and torch.equal(scores, want_scores)
    narrow, _ = rec.recommend(histories, k=2)
    assert torch.equal(narrow, beam_search(model, ids, histories, 2, 2)[0])


def test_rejects_what_is_not_a_step_model_and_bad_arguments() -> None:
    ids = make_ids(N_ITEMS)
    with pytest.raises(TypeError, match="StepModel"):
        GenerativeRecommender(object(), ids)  # type: ignore[arg-type]
    model = random_table_model(ids, 1, seed=0)
    with pytest.raises(ValueError, match="beams"):
        GenerativeRecommender(model, ids, beams=0)
    rec = GenerativeRecommender(model, ids)
    assert isinstance(rec, Recommender) and "beams=20" in repr(rec)
    with pytest.raises(ValueError, match="preferences"):
        rec.recommend(torch.zeros(2, 1, dtype=torch.long), k=1, preferences=["a"])
    with pytest.raises(ValueError, match="rows"):
        rec.recommend(torch.zeros(2, 1, dtype=torch.long), k=1, exclude=torch.zeros(3, 1))


def test_no_gradients_are_recorded() -> None:
    ids = make_ids(N_ITEMS)
    weight = torch.nn.Parameter(torch.randn(ids.vocab_size + 1))  # + the spare token
    model = random_table_model(ids, 1, seed=0)
    base = model.fn
    model.fn = lambda users, cache: base(users, cache) + weight  # a trainable "network"
    _, scores = GenerativeRecommender(model, ids).recommend(torch.tensor([[PAD]]), k=3)
    assert not scores.requires_grad
    assert np.isfinite(scores.numpy()).all()


def test_decodes_in_chunks_of_max_rows() -> None:
    """Chunking bounds the decoding state's memory and changes no result."""
    ids = make_ids(N_ITEMS)
    model = random_table_model(ids, N_ITEMS + 1, seed=2)
    histories = torch.tensor([[PAD, 1], [0, 2], [3, 4], [PAD, PAD], [5, 6]])
    exclude = torch.tensor([[1, PAD], [2, 0], [PAD, PAD], [7, 8], [6, PAD]])
    whole = GenerativeRecommender(model, ids, beams=4).recommend(histories, 3, exclude=exclude)
    chunked = GenerativeRecommender(model, ids, beams=4, max_rows=8)  # 2 users per chunk
    parts = chunked.recommend(histories, 3, exclude=exclude)
    assert torch.equal(parts[0], whole[0]) and torch.equal(parts[1], whole[1])
    empty, _ = chunked.recommend(histories[:0], 3)
    assert empty.shape == (0, 3)
    with pytest.raises(ValueError, match="max_rows"):
        GenerativeRecommender(model, ids, max_rows=0)
