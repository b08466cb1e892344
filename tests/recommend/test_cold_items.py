"""ColdItems: items unseen in training reach the generated lists through their text."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from genrec.data.dataset import Sequences
from genrec.data.windows import PAD
from genrec.decoding.beam_search import beam_search
from genrec.recommend.cold_items import ColdItems, ColdItemsConfig, untrained_items
from genrec.recommend.generative import GenerativeRecommender
from genrec.sid.semantic_ids import SemanticIds

from ..decoding.toy_models import random_table_model, unique_codes

SIZES = (3, 3, 2)
N_ITEMS = 15
TEXT = ColdItemsConfig(items="text", slots=1, text_weight=10.0, prefix_weight=0.0, bias=0.0)


def make_ids() -> SemanticIds:
    return SemanticIds(unique_codes(SIZES, N_ITEMS, seed=0), SIZES)


def one_hot_text(twins: dict[int, int]) -> np.ndarray:
    """Orthogonal item texts, except that each key's text is its value's (a textual twin)."""
    vectors = np.eye(N_ITEMS, dtype=np.float32)
    for item, twin in twins.items():
        vectors[item] = vectors[twin]
    return vectors


def test_untrained_items_come_from_the_training_sequences() -> None:
    train = Sequences(np.array([0, 2, 3]), np.array([1, 4, 4]))
    assert untrained_items(train, 6).tolist() == [True, False, True, True, False, True]


def test_a_cold_item_is_returned_only_through_its_text() -> None:
    ids = make_ids()
    model = random_table_model(ids, N_ITEMS + 1, seed=0)
    histories = torch.tensor([[PAD, 3], [2, 7]])
    plain = GenerativeRecommender(model, ids, beams=3)
    generated, _ = plain.recommend(histories, k=3)
    cold_item = next(i for i in range(N_ITEMS) if i not in generated.tolist()[0])
    cold = np.zeros(N_ITEMS, dtype=bool)
    cold[cold_item] = True
    scorer = ColdItems(one_hot_text({cold_item: 3}), cold, ids, TEXT)  # user 0's last item
    merged, scores = GenerativeRecommender(model, ids, beams=3, cold=scorer).recommend(
        histories, k=3
    )
    # User 0's history is the cold item's twin: cosine 1, score 10 beats every log-probability.
    assert merged[0, 0] == cold_item and scores[0, 0] == pytest.approx(10.0)
    assert torch.equal(merged[0, 1:], generated[0, :2])
    # User 1's profile (3 is not in it) is orthogonal to it: score 0 still beats log-probs < 0.
    assert cold_item in merged[1].tolist()
    strict = ColdItems(one_hot_text({cold_item: 3}), cold, ids, dataclasses.replace(TEXT, bias=-9))
    merged, _ = GenerativeRecommender(model, ids, beams=3, cold=strict).recommend(histories, k=3)
    assert merged[0, 0] == cold_item and torch.equal(merged[1], generated[1])


def test_cold_items_are_never_duplicated_nor_excluded_ones_returned() -> None:
    ids = make_ids()
    model = random_table_model(ids, N_ITEMS + 1, seed=1)
    gen = torch.Generator().manual_seed(0)
    histories = torch.randint(0, N_ITEMS, (40, 4), generator=gen)
    histories[::3, :2] = PAD
    cold = np.arange(N_ITEMS) % 2 == 0  # cold items the search returns too
    rng = np.random.default_rng(0)
    text = rng.normal(size=(N_ITEMS, 8)).astype(np.float32)
    config = dataclasses.replace(TEXT, slots=4, bias=5.0, prefix_weight=1.0)
    rec = GenerativeRecommender(model, ids, beams=6, cold=ColdItems(text, cold, ids, config))
    for exclude in (None, histories):
        items, scores = rec.recommend(histories, k=6, exclude=exclude)
        for row, history in zip(items.tolist(), histories.tolist(), strict=True):
            real = [i for i in row if i != PAD]
            assert len(real) == len(set(real)) == 6
            if exclude is not None:
                assert not set(real) & set(history)
        assert (scores[:, :-1] >= scores[:, 1:]).all()
        assert np.isin(items, np.flatnonzero(cold)).sum(1).max() > 0


def test_off_is_the_beam_search_exactly_and_generate_gives_the_first_level() -> None:
    ids = make_ids()
    model = random_table_model(ids, N_ITEMS + 1, seed=2, offset=1)
    histories = torch.tensor([[PAD, 1], [0, 2], [4, 5]])
    rec = GenerativeRecommender(model, ids, beams=4, token_offset=1, max_rows=8)
    items, scores = rec.recommend(histories, k=4)
    want_items, want_scores = beam_search(model, ids, histories, 4, 4, token_offset=1)
    assert torch.equal(items, want_items) and torch.equal(scores, want_scores)
    generated, generated_scores, first = rec.generate(histories, k=4)
    assert torch.equal(generated, items) and torch.equal(generated_scores, scores)
    # The first level: the model's first-step logits, softmaxed over the codes the trie allows.
    allowed = sorted(set(ids.codes[:, 0].tolist()))
    for row, user in enumerate((2, 3, 6)):  # last history item + 1
        logits = model.fn(torch.tensor([user]), torch.zeros(1, 0, dtype=torch.long))[0]
        want = logits[1 + torch.tensor(allowed)].log_softmax(0)
        assert torch.allclose(first[row, allowed], want, atol=1e-6)


def test_the_text_profile_weighs_recent_items_more() -> None:
    ids = make_ids()
    cold = np.zeros(N_ITEMS, dtype=bool)
    cold[[0, 1]] = True
    config = dataclasses.replace(TEXT, recency=0.5)
    scorer = ColdItems(one_hot_text({0: 5, 1: 6}), cold, ids, config)
    similarity = scorer.similarity(torch.tensor([[5, 6], [6, 5], [PAD, PAD]]))
    assert similarity[0, 1] > similarity[0, 0] and similarity[1, 0] > similarity[1, 1]
    assert torch.equal(similarity[2], torch.zeros(2))  # an empty history matches nothing


def test_rejects_embeddings_that_do_not_match_the_catalog() -> None:
    ids = make_ids()
    with pytest.raises(ValueError, match="a row per item"):
        ColdItems(np.ones((3, 4), dtype=np.float32), np.zeros(N_ITEMS, dtype=bool), ids, TEXT)


def test_equal_cold_scores_go_to_the_lower_item() -> None:
    ids = make_ids()
    cold = np.zeros(N_ITEMS, dtype=bool)
    cold[[4, 9, 11]] = True
    config = dataclasses.replace(TEXT, slots=2)
    scorer = ColdItems(np.eye(N_ITEMS, dtype=np.float32), cold, ids, config)
    items = torch.tensor([[0, 1, 2]])
    scores = torch.tensor([[-1.0, -2.0, -3.0]])
    # An empty history: every cold item scores the bias, 0.
    merged, merged_scores = scorer.merge(items, scores, torch.tensor([[PAD]]), torch.zeros(1, 3))
    assert merged.tolist() == [[4, 9, 0]] and merged_scores.tolist() == [[0.0, 0.0, -1.0]]
