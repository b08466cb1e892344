"""Rewards against hand-computed cases (exact hit, prefix credit, beam rank, nothing, the format
gate), the registry behind ``rl.reward``, and old configs that keep their meaning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec.config import load_config
from genrec.errors import ConfigError
from genrec.recipes.recipe import Recipe
from genrec.rl.rewards import (
    PREFIX_CREDIT,
    REWARDS,
    ExactReward,
    PrefixReward,
    RankAwareReward,
    build_reward,
    matched_prefix,
    rank_penalty,
)
from genrec.rl.srpo import RLConfig
from genrec.sid.semantic_ids import SemanticIds

# item: 0 (0,0,0)  1 (0,0,1)  2 (0,1,0)  3 (1,0,0)  4 (0,0,0) shares item 0's ID
CODES = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 0]])
IDS = SemanticIds(CODES, (2, 2, 2))


def test_exact_prefix_and_none() -> None:
    items = torch.tensor([[0, 1, 2, 3, 4]])
    targets = torch.tensor([0])
    assert matched_prefix(IDS, items, targets).tolist() == [[3, 2, 1, 0, 3]]
    got = PrefixReward()(IDS, items, targets)
    # the same ID as the target is not the target: full-length credit (c_3), never 1
    want = [[1.0, PREFIX_CREDIT[1], PREFIX_CREDIT[0], 0.0, PREFIX_CREDIT[2]]]
    torch.testing.assert_close(got, torch.tensor(want))


def test_credit_is_configurable_and_longer_prefixes_keep_the_last() -> None:
    items, targets = torch.tensor([[0, 1, 2, 3, 4]]), torch.tensor([0])
    assert PrefixReward(())(IDS, items, targets).tolist() == [[1.0, 0.0, 0.0, 0.0, 0.0]]
    got = PrefixReward((0.25,))(IDS, items, targets)
    assert got.tolist() == [[1.0, 0.25, 0.25, 0.0, 0.25]]


def test_the_exact_reward_is_the_hit_alone() -> None:
    items, targets = torch.tensor([[0, 1, 2, 3, 4], [3, 3, 0, 1, 2]]), torch.tensor([0, 3])
    got = ExactReward()(IDS, items, targets)
    assert got.dtype == torch.float32
    assert got.tolist() == [[1.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0]]


def test_the_rank_aware_reward_penalises_wrong_items_by_their_beam_rank() -> None:
    # w_r = 1 / log2(r + 2) for r = 0..3: 1, 0.6309, 0.5, 0.4307 (sum 2.5616), normalised
    penalty = [0.390380, 0.246302, 0.195190, 0.168128]
    torch.testing.assert_close(rank_penalty(4), torch.tensor(penalty))
    items = torch.tensor([[3, 0, 1, 2], [1, 2, 3, 4]])  # user 0's target at rank 1; user 1 none
    got = RankAwareReward()(IDS, items, torch.tensor([0, 0]))
    want = [[-penalty[0], 1.0, -penalty[2], -penalty[3]], [0.0, 0.0, 0.0, 0.0]]
    torch.testing.assert_close(got, torch.tensor(want))
    # item 4 shares the target's ID but is not the target: penalised like any wrong item


def test_format_gate_zeroes_malformed_outputs_for_every_reward() -> None:
    items, targets = torch.tensor([[0, 1], [3, 3]]), torch.tensor([0, 3])
    ok = torch.tensor([[False, True], [True, False]])
    got = PrefixReward()(IDS, items, targets, format_ok=ok)
    assert got.tolist() == [[0.0, pytest.approx(PREFIX_CREDIT[1])], [1.0, 0.0]]
    # a malformed hit is no hit: user 0's group holds no target, so its penalty is off too
    assert RankAwareReward()(IDS, items, targets, ok).tolist() == [[0.0, 0.0], [1.0, 0.0]]
    for reward in (ExactReward(), PrefixReward(), RankAwareReward()):
        assert (reward(IDS, items, targets, ok)[~ok] == 0).all()


def test_a_rollout_must_be_a_real_item() -> None:
    for reward in (ExactReward(), PrefixReward(), RankAwareReward()):
        with pytest.raises(ValueError, match="real item"):
            reward(IDS, torch.tensor([[0, -1]]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        PrefixReward((1.0,))


def test_the_registry_builds_each_reward_from_the_rl_section() -> None:
    assert list(REWARDS) == ["exact", "prefix", "rank_aware"]
    assert build_reward(RLConfig(reward="exact")) == ExactReward()
    assert build_reward(RLConfig(prefix_credit=(0.3,))) == PrefixReward((0.3,))
    assert build_reward(RLConfig(reward="rank_aware", rollout="beam")) == RankAwareReward()
    items, targets = torch.tensor([[0, 1, 2, 3]]), torch.tensor([0])
    for name, build in REWARDS.items():
        rollout = "beam" if name == "rank_aware" else "sample"
        got = build(RLConfig(reward=name, rollout=rollout))(IDS, items, targets)
        assert got.dtype == torch.float32 and got.shape == (1, 4) and got[0, 0] == 1.0


def test_an_unknown_reward_is_refused_with_the_known_names() -> None:
    with pytest.raises(ConfigError, match="reward: unknown name 'ndcg'.*exact, prefix, rank_aware"):
        RLConfig(reward="ndcg")
    with pytest.raises(ConfigError, match=r"rl: reward: unknown name 'ndcg'"):
        load_config(Recipe, {}, ["rl.reward=ndcg"])


def test_a_ranked_reward_needs_beam_rollouts() -> None:
    with pytest.raises(ConfigError, match="rl.rollout=beam"):
        RLConfig(reward="rank_aware")  # sampled rollouts come in no order


def test_the_default_and_old_configs_give_todays_rewards() -> None:
    gen = torch.Generator().manual_seed(0)
    items = torch.randint(0, IDS.n_items, (64, 8), generator=gen)
    targets = torch.randint(0, IDS.n_items, (64,), generator=gen)
    ok = torch.rand(64, 8, generator=gen) > 0.2
    # before rl.reward, the rewards were this function of rl.prefix_credit
    for credit in (PREFIX_CREDIT, (), (0.25,)):
        table = torch.tensor([0.0, *credit])
        matched = matched_prefix(IDS, items, targets).clamp(max=len(credit))
        today = torch.where(items == targets[:, None], 1.0, table[matched]) * ok
        # a saved config written then holds prefix_credit and no reward: the prefix reward
        old = load_config(Recipe, {"rl": {"prefix_credit": list(credit)}}).rl
        assert old.reward == "prefix"
        assert torch.equal(build_reward(old)(IDS, items, targets, ok), today)
    assert build_reward(Recipe().rl) == PrefixReward(PREFIX_CREDIT)
    # GRPO was spelled prefix_credit: []; reward "exact" is the same reward
    grpo = build_reward(load_config(Recipe, {"rl": {"prefix_credit": []}}).rl)
    exact = build_reward(load_config(Recipe, {}, ["rl.reward=exact"]).rl)
    assert torch.equal(grpo(IDS, items, targets, ok), exact(IDS, items, targets, ok))
