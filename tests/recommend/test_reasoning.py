"""Reasoning mode: a bounded free chain, then an answer that is always a real item."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrec.eval.metrics import pass_at_k
from genrec.models.llm_backbone import LLMBackbone, LLMConfig, llm_backbone
from genrec.models.recommender import PAD, Reasons, Recommender
from genrec.recommend.generative import GenerativeRecommender
from genrec.recommend.reasoning import ReasoningRecommender, sampled_answers
from tests.models import generator_helpers
from tests.models.generator_helpers import N_ITEMS

pytestmark = pytest.mark.usefixtures("one_thread")
ids = generator_helpers.ids
HISTORIES = torch.tensor([[PAD, 1, 2, 3], [4, 5, 6, 7], [PAD, PAD, PAD, 11]])


@pytest.fixture(scope="module")
def backbone(tiny_causal_lm, ids) -> LLMBackbone:
    torch.manual_seed(0)
    return llm_backbone(ids, LLMConfig(source=str(tiny_causal_lm)), device="cpu").eval()


def test_reasoning_writes_bounded_chains_without_ids_then_real_items(backbone):
    model = ReasoningRecommender(backbone, beams=12, chain_tokens=8)
    assert isinstance(model, Recommender) and isinstance(model, Reasons)
    assert not isinstance(GenerativeRecommender(backbone, backbone.ids), Reasons)
    chains = model.write_chains(model.prompts(HISTORIES))
    id_range = range(backbone.token_offset, backbone.token_offset + backbone.ids.vocab_size + 1)
    assert all(len(c) <= 8 and not set(c) & set(id_range) for c in chains)
    reasoned = model.reason(HISTORIES, k=10)
    assert len(reasoned.chains) == len(HISTORIES) and all(
        isinstance(c, str) for c in reasoned.chains
    )
    assert reasoned.items.shape == (3, 10)
    for row in reasoned.items.tolist():
        assert len(set(row)) == 10 and all(0 <= i < N_ITEMS for i in row)
    items, scores = model.recommend(HISTORIES, k=10)
    assert torch.equal(items, reasoned.items) and torch.equal(scores, reasoned.scores)


def test_chains_come_back_as_written(backbone):
    model = ReasoningRecommender(backbone, beams=12, chain_tokens=32)
    texts = ["\n\n\n", "  Likes pens.\n", ""]
    chains = [backbone.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    reasoned = model.reason(HISTORIES, k=3, chains=chains)
    assert reasoned.chains == texts  # blank lines are not an empty chain
    assert reasoned.truncated == [False, False, False]


def test_chains_that_use_up_the_budget_are_flagged(backbone):
    model = ReasoningRecommender(backbone, beams=12, chain_tokens=3)
    written = model.write_chains(model.prompts(HISTORIES))
    flagged = model.reason(HISTORIES, k=3, chains=written).truncated
    # A written chain never holds its stop, so chain_tokens tokens mean it never wrote one.
    assert flagged == [len(c) == 3 for c in written] and any(flagged)  # untrained: rambles
    assert model.reason(HISTORIES, k=3).truncated == flagged
    tokens = backbone.tokenizer("a b c d", add_special_tokens=False)["input_ids"]
    given = [tokens[:2], tokens[:3], tokens[:4]]
    assert model.reason(HISTORIES, k=3, chains=given).truncated == [False, True, True]
    silent = ReasoningRecommender(backbone, beams=12, chain_tokens=0)  # no chain asked for
    assert silent.reason(HISTORIES, k=3).truncated == [False, False, False]


def test_sampled_chains_are_seeded(backbone):
    first = ReasoningRecommender(backbone, chain_tokens=6, temperature=1.0, seed=3)
    again = ReasoningRecommender(backbone, chain_tokens=6, temperature=1.0, seed=3)
    prompts = first.prompts(HISTORIES)
    assert first.write_chains(prompts) == again.write_chains(prompts)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    chains=st.lists(
        st.lists(st.integers(min_value=3, max_value=300), max_size=24), min_size=3, max_size=3
    ),
    excluded=st.lists(st.integers(min_value=0, max_value=N_ITEMS - 1), max_size=6),
    k=st.integers(min_value=1, max_value=N_ITEMS),
)
def test_answers_are_real_permitted_items_whatever_the_chain(backbone, chains, excluded, k):
    """Random chains of text tokens: the answer list is still distinct catalog items, none
    excluded, and full whenever enough items are left."""
    model = ReasoningRecommender(backbone, beams=N_ITEMS)
    exclude = torch.tensor([excluded or [PAD]] * len(HISTORIES))
    reasoned = model.reason(HISTORIES, k, exclude=exclude, chains=chains)
    left = N_ITEMS - len(set(excluded))
    for row in reasoned.items.tolist():
        real = [i for i in row if i != PAD]
        assert len(real) == len(set(real)) == min(k, left)
        assert all(0 <= i < N_ITEMS and i not in excluded for i in real)


def test_sampled_answers_give_pass_at_k(backbone):
    model = ReasoningRecommender(backbone, beams=12, chain_tokens=4, temperature=1.0)
    answers = sampled_answers(model, HISTORIES, n=4)
    assert answers.shape == (3, 4) and ((answers >= 0) & (answers < N_ITEMS)).all()
    assert torch.equal(answers, sampled_answers(model, HISTORIES, n=4))  # seeded
    # Taking each user's first sample as the target: at least 1 hit of 4 samples.
    hits = answers == answers[:, :1]
    assert (pass_at_k(hits, 1) >= 0.25).all() and (pass_at_k(hits, 4) == 1).all()
