"""Preferences as text in an LLM backbone's prompts: direct mode (PromptedRecommender) and
reasoning mode read a request's positive statements; without any, nothing changes."""

from __future__ import annotations

import pytest
import torch

from genrec.models.llm_backbone import LLMBackbone, LLMConfig, llm_backbone
from genrec.models.llm_prompts import DIRECT_REQUEST, with_statements
from genrec.models.recommender import PAD, Recommender
from genrec.prefs.preference import Preference
from genrec.recommend.generative import GenerativeRecommender
from genrec.recommend.prompted import PromptedRecommender, stated
from genrec.recommend.reasoning import ReasoningRecommender, sampled_answers
from tests.models import generator_helpers
from tests.models.generator_helpers import N_ITEMS

pytestmark = pytest.mark.usefixtures("one_thread")
ids = generator_helpers.ids
HISTORIES = torch.tensor([[PAD, 1, 2, 3], [4, 5, 6, 7], [PAD, PAD, PAD, 11]])
TOLD = [
    [Preference("Likes blue desk lamps", "positive"), Preference("no glitter", "negative")],
    [],
    ["Wants a stapler."],  # bare text: its polarity is read from the words
]


@pytest.fixture(scope="module")
def backbone(tiny_causal_lm, ids) -> LLMBackbone:
    torch.manual_seed(0)
    return llm_backbone(ids, LLMConfig(source=str(tiny_causal_lm)), device="cpu").eval()


def test_statements_come_before_the_request_and_only_when_given():
    request = DIRECT_REQUEST.format(history="<a_1><b_2>")
    assert with_statements(request, []) == request
    assert with_statements(request, ["Likes pens", " Wants ink! "]) == (
        f"The shopper says: Likes pens. Wants ink! {request}"
    )
    assert stated(TOLD, 3, limit=5) == [["Likes blue desk lamps"], [], ["Wants a stapler."]]
    assert stated(TOLD, 3, limit=0) == [[], [], []]


def test_direct_mode_reads_positive_statements_into_the_prompt(backbone):
    model = PromptedRecommender(backbone, beams=12, max_statements=2)
    assert isinstance(model, Recommender)
    plain = backbone.prompts(HISTORIES)
    told = backbone.prompts(HISTORIES, stated(TOLD, 3, 2))
    assert "The shopper says: Likes blue desk lamps." in told[0] and "glitter" not in told[0]
    assert told[1] == plain[1] and told[2] != plain[2]
    # Without preferences: exactly the shared decoder's lists.
    items, scores = model.recommend(HISTORIES, k=6)
    base = GenerativeRecommender(backbone, backbone.ids, 12, token_offset=backbone.token_offset)
    base_items, base_scores = base.recommend(HISTORIES, k=6)
    assert torch.equal(items, base_items) and torch.allclose(scores, base_scores)
    # With them: the users who stated something get another prompt, hence other scores.
    told_items, told_scores = model.recommend(HISTORIES, k=6, preferences=TOLD)
    assert torch.equal(told_scores[1], scores[1])
    assert not torch.allclose(told_scores[0], scores[0])
    for row in told_items.tolist():
        assert len(set(row)) == 6 and all(0 <= i < N_ITEMS for i in row)


def test_raw_scoring_reaches_the_backbone_through_the_prompts(backbone):
    """Prompted and reasoning mode decode raw scoring over the whole vocabulary too (the
    backbone's view, which beam_search cannot reach inside their prompts' wrapper)."""
    raw = PromptedRecommender(backbone, beams=12, max_statements=2, scoring="raw")
    offset = backbone.token_offset
    shared = GenerativeRecommender(backbone, backbone.ids, 12, offset, scoring="raw")
    items, scores = raw.recommend(HISTORIES, k=6)
    want_items, want_scores = shared.recommend(HISTORIES, k=6)
    assert torch.equal(items, want_items)
    torch.testing.assert_close(scores, want_scores)
    # Reasoning: the top answer's score is its ID's summed log-softmax over every token after
    # the prompt and the answer marker, by one plain forward.
    reasoning = ReasoningRecommender(backbone, beams=12, scoring="raw")
    answers = reasoning.reason(HISTORIES, 1, chains=[[], [], []])
    primed = [[*p, reasoning.answer] for p in reasoning.prompts(HISTORIES)]
    tokens = backbone.ids.tokens(offset=backbone.token_offset)
    for user, prompt in enumerate(primed):
        answer = [int(t) for t in tokens[answers.items[user, 0]]]
        with torch.no_grad():
            logits = backbone.lm(input_ids=torch.tensor([prompt + answer])).logits[0]
        logp = logits[len(prompt) - 1 : -1].float().log_softmax(-1)
        want = logp.gather(1, torch.tensor(answer)[:, None]).sum()
        torch.testing.assert_close(answers.scores[user, 0], want, atol=1e-4, rtol=0)


def test_reasoning_mode_reads_statements_only_when_trained_to(backbone):
    deaf = ReasoningRecommender(backbone, beams=12, chain_tokens=4)
    listening = ReasoningRecommender(backbone, beams=12, chain_tokens=4, max_statements=3)
    chains = [[], [], []]
    plain = deaf.reason(HISTORIES, 5, chains=chains)
    assert torch.equal(deaf.reason(HISTORIES, 5, TOLD, chains=chains).scores, plain.scores)
    told = listening.reason(HISTORIES, 5, TOLD, chains=chains)
    assert not torch.allclose(told.scores[0], plain.scores[0])
    assert torch.equal(told.scores[1], plain.scores[1])
    answers = sampled_answers(listening, HISTORIES, n=2, preferences=TOLD)
    assert answers.shape == (3, 2) and ((answers >= 0) & (answers < N_ITEMS)).all()
