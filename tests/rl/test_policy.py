"""Token log-probabilities through the decoding steps: the sampler's, with the gradients of a
plain teacher-forced pass, for both generator families."""

from __future__ import annotations

import pytest
import torch

from genrec.data.windows import PAD
from genrec.decoding.constraints import level_logprobs
from genrec.decoding.sampling import sample
from genrec.models.decoder_only import DecoderOnly, DecoderOnlyConfig
from genrec.models.tiger import Tiger, TigerConfig
from genrec.rl.policy import Policy, token_logprobs
from genrec.rl.rollouts import rollout
from genrec.sid.semantic_ids import SemanticIds
from tests.models import generator_helpers

from ..decoding.toy_models import unique_codes

IDS = SemanticIds(unique_codes((4, 3, 3), 20, seed=0), (4, 3, 3))
HISTORIES = torch.tensor([[PAD, PAD, 3], [1, 2, 5], [PAD, PAD, PAD]])
ids = generator_helpers.ids  # 12 items, 2-token IDs: the tiny LLM's catalog
pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(family: str) -> Policy:
    torch.manual_seed(0)
    if family == "tiger":
        config = TigerConfig(encoder_layers=1, decoder_layers=1, heads=2, head_dim=8, d_model=16)
        return Tiger(IDS, config).eval()
    return DecoderOnly(IDS, DecoderOnlyConfig(hidden=16, layers=1, heads=2, ff_dim=32)).eval()


@pytest.mark.parametrize("family", ["decoder_only", "tiger"])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_token_logprobs_sum_to_the_samplers_logprob(family: str, temperature: float) -> None:
    model = tiny(family)
    assert isinstance(model, Policy)
    gen = torch.Generator().manual_seed(0)
    items, logprobs = sample(
        model, IDS, HISTORIES, 6, temperature=temperature, generator=gen, token_offset=2
    )
    gen = torch.Generator().manual_seed(0)
    again, tokens = rollout(model, HISTORIES, 6, temperature=temperature, generator=gen)
    assert torch.equal(items, again)
    assert tokens.shape == (3, 6, 3)
    assert torch.equal(tokens - torch.tensor(IDS.level_offsets(2)), torch.tensor(IDS.codes)[items])
    per_token = token_logprobs(model, HISTORIES, tokens, temperature)
    assert per_token.shape == (3, 6, 3) and per_token.requires_grad
    torch.testing.assert_close(per_token.sum(2), logprobs, atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", ["decoder_only", "tiger"])
def test_step_scores_have_the_gradients_of_a_teacher_forced_pass(family: str) -> None:
    model = tiny(family)
    _, tokens = rollout(model, HISTORIES, 4, generator=torch.Generator().manual_seed(1))
    weights = torch.randn(3, 4, 3, generator=torch.Generator().manual_seed(2))
    (token_logprobs(model, HISTORIES, tokens) * weights).sum().backward()
    by_steps = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    # the same constrained log-probabilities from one full teacher-forced pass per rollout
    flat = tokens.flatten(0, 1)
    scores = model.log_probs(HISTORIES.repeat_interleave(4, dim=0), flat[:, :-1])
    offsets = IDS.level_offsets(2).tolist()
    codes = flat - torch.tensor(offsets)
    total = torch.zeros(())
    for level, size in enumerate(IDS.codebook_sizes):
        allowed = IDS.trie.allowed(codes[:, :level])
        logp = level_logprobs(scores[:, level], offsets[level], allowed.view(-1, size))
        picked = logp.gather(1, codes[:, level : level + 1]).view(3, 4)
        total = total + (picked * weights[:, :, level]).sum()
    total.backward()
    assert by_steps.keys() == {k for k, p in model.named_parameters() if p.grad is not None}
    for name, grad in by_steps.items():
        torch.testing.assert_close(
            grad, dict(model.named_parameters())[name].grad, atol=1e-5, rtol=1e-4
        )


def test_beam_rollouts_are_distinct_items_and_too_many_is_an_error() -> None:
    model = tiny("decoder_only")
    items, _ = rollout(model, HISTORIES, 5, mode="beam")
    assert all(len(set(row)) == 5 for row in items.tolist())
    with pytest.raises(ValueError, match="fewer rollouts"):
        rollout(model, HISTORIES, 21, mode="beam")


def test_llm_token_logprobs_equal_a_full_forward(tiny_causal_lm, ids) -> None:
    from genrec.models.llm_backbone import LLMConfig, llm_backbone

    torch.manual_seed(0)
    model = llm_backbone(ids, LLMConfig(source=str(tiny_causal_lm)), device="cpu").eval()
    assert isinstance(model, Policy)
    histories = torch.tensor([[PAD, 1, 2, 3], [4, 5, 6, 7]])
    gen = torch.Generator().manual_seed(0)
    _, tokens = rollout(model, histories, 3, temperature=0.8, generator=gen)
    per_token = token_logprobs(model, histories, tokens, 0.8)
    assert per_token.requires_grad
    # one uncached pass per rollout over its prompt and ID tokens
    offsets = ids.level_offsets(model.token_offset).tolist()
    prompts = model.prompt_tokens(histories)
    for row, emitted in enumerate(tokens.flatten(0, 1).tolist()):
        sequence = torch.tensor([prompts[row // 3] + emitted[:-1]])
        hidden = model.core()(input_ids=sequence).last_hidden_state[0, -len(emitted) :]
        logits = model.id_logits(hidden)
        codes = torch.tensor(emitted) - torch.tensor(offsets)
        for level, size in enumerate(ids.codebook_sizes):
            allowed = ids.trie.allowed(codes[None, :level]).view(1, size)
            logp = level_logprobs(logits[level : level + 1], offsets[level], allowed, 0.8)
            torch.testing.assert_close(
                per_token.flatten(0, 1)[row, level], logp[0, codes[level]], atol=1e-5, rtol=0
            )
