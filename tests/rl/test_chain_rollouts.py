"""Reasoning-mode rollouts of the LLM backbone: sampled chains scored again exactly, answers
that are always real items, and the format gate."""

from __future__ import annotations

import copy

import pytest
import torch

from genrec.data.windows import PAD
from genrec.decoding.constraints import level_logprobs
from genrec.models.llm_backbone import LLMBackbone, LLMConfig, llm_backbone
from genrec.models.llm_prompts import REASONING_REQUEST
from genrec.rl.chain_rollouts import ChainRollouts, chain_rollouts, marker, sample_chains
from genrec.rl.rewards import PrefixReward
from genrec.rl.srpo import RLConfig, srpo_step
from tests.models import generator_helpers
from tests.models.generator_helpers import N_ITEMS

pytestmark = pytest.mark.usefixtures("one_thread")
ids = generator_helpers.ids
HISTORIES = torch.tensor([[PAD, 1, 2, 3], [4, 5, 6, 7], [PAD, PAD, PAD, 11]])


@pytest.fixture()
def backbone(tiny_causal_lm, ids) -> LLMBackbone:
    torch.manual_seed(0)
    return llm_backbone(ids, LLMConfig(source=str(tiny_causal_lm)), device="cpu").eval()


def talkative(model: LLMBackbone) -> LLMBackbone:
    """``model`` writing the answer marker about half the time: its logit is set to the
    log-sum-exp of all others (a random tiny model never writes it on its own)."""

    def head(hidden: torch.Tensor) -> torch.Tensor:
        logits = model.lm.get_output_embeddings()(hidden)
        others = logits.detach().logsumexp(dim=-1, keepdim=True)
        return logits.scatter(-1, torch.full_like(others, marker(model), dtype=torch.long), others)

    model.head = head  # type: ignore[method-assign]
    return model


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_a_teacher_forced_pass_scores_the_sampled_chains_and_ids(backbone, temperature):
    model = talkative(backbone)
    prompts = model.prompt_tokens(HISTORIES, None, REASONING_REQUEST)
    chains, chain_logp = sample_chains(
        model, prompts, 4, 8, temperature, torch.Generator().manual_seed(0)
    )
    assert len(chains) == 12 and all(1 <= len(c) <= 8 for c in chains)
    rollouts = chain_rollouts(
        model, HISTORIES, 4, chain_tokens=8, temperature=temperature,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert rollouts.chains == chains  # the same seeded draws
    logp, mask = rollouts.logprobs(model, torch.ones(3, dtype=torch.bool))
    width = logp.shape[1] - 2
    assert logp.requires_grad and mask[:, width:].all()
    assert torch.equal(mask[:, :width].sum(1), torch.tensor([len(c) for c in chains]))
    # the chains: as sampled step by step with the cache
    torch.testing.assert_close((logp[:, :width] * mask[:, :width]).sum(1), chain_logp)
    # the IDs: as the constrained sampler draws them after prompt, chain and marker
    offsets = model.ids.level_offsets(model.token_offset).tolist()
    codes = rollouts.tokens.flatten(0, 1) - torch.tensor(offsets)
    for row, chain in enumerate(chains):
        body = chain[:-1] if chain[-1] in ChainRollouts.stops(model) else chain
        state = model.prefill([[*prompts[row // 4], *body, marker(model)]], 1)
        logits, state = model.step(state, None)
        for level, size in enumerate(model.ids.codebook_sizes):
            allowed = model.ids.trie.allowed(codes[row : row + 1, :level])
            want = level_logprobs(logits, offsets[level], allowed.view(1, size), temperature)
            got = logp[row, width + level]
            torch.testing.assert_close(got, want[0, codes[row, level]], atol=1e-5, rtol=0)
            logits, state = model.step(state, (codes[row, level : level + 1] + offsets[level]))


@pytest.mark.parametrize("seed", range(4))
def test_answers_are_real_items_and_the_format_gate_zeroes_malformed_ones(backbone, seed):
    model = talkative(backbone)
    rollouts = chain_rollouts(
        model, HISTORIES, 6, chain_tokens=3, generator=torch.Generator().manual_seed(seed)
    )
    items = rollouts.items
    assert items.shape == (3, 6) and ((items >= 0) & (items < N_ITEMS)).all()
    ended = [bool(c) and c[-1] == marker(model) for c in rollouts.chains]
    assert rollouts.format_ok.flatten().tolist() == ended
    assert all(len(c) <= 3 for c in rollouts.chains)
    # every rollout's item is its user's target: only well-formed ones earn the reward
    reward = PrefixReward((0.5,))(model.ids, items, items[:, 0], rollouts.format_ok)
    hit = items == items[:, :1]
    assert torch.equal(reward[hit], rollouts.format_ok[hit].float())
    assert (reward[~rollouts.format_ok] == 0).all()


def test_malformed_chains_happen_and_are_counted(backbone):
    model = talkative(backbone)
    rollouts = chain_rollouts(model, HISTORIES, 8, chain_tokens=2, generator=torch.Generator())
    assert 0 < rollouts.format_ok.float().mean() < 1


def test_a_reasoning_step_starts_with_zero_kl_and_updates(backbone):
    model = talkative(backbone)
    reference = talkative(copy.deepcopy(model).requires_grad_(False))
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    config = RLConfig(rollouts=6, mode="reasoning", pass_at_k=4)
    stats = srpo_step(
        model,
        optimizer,
        HISTORIES,
        torch.tensor([4, 8, 0]),
        config,
        reference=reference,
        generator=torch.Generator().manual_seed(0),
        chain_tokens=2,
    )
    assert stats["kl"] == 0.0 and 0 < stats["well_formed"] < 1 and stats["zero_variance"] < 1
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_reasoning_rollouts_need_the_llm_backbone():
    from tests.rl.test_srpo import histories, tiny

    with pytest.raises(TypeError, match="LLMBackbone"):
        chain_rollouts(tiny(), histories(2), 2, chain_tokens=4)
