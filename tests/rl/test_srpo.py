"""SRPO steps: the KL starts at 0, groups without signal change nothing, and a tiny generator
learns a target item from rewards alone."""

from __future__ import annotations

import copy
import dataclasses
import functools

import numpy as np
import pytest
import torch

from genrec.data.windows import PAD
from genrec.decoding.beam_search import beam_search
from genrec.errors import ConfigError
from genrec.models.decoder_only import DecoderOnly, DecoderOnlyConfig
from genrec.rl import srpo
from genrec.rl.policy import target_nll
from genrec.rl.rewards import build_reward
from genrec.rl.rollouts import rollout
from genrec.rl.srpo import RLConfig, srpo_step
from genrec.sid.semantic_ids import SemanticIds

from ..decoding.toy_models import unique_codes

pytestmark = pytest.mark.usefixtures("one_thread")
IDS = SemanticIds(unique_codes((4, 3, 3), 20, seed=0), (4, 3, 3))


def tiny() -> DecoderOnly:
    torch.manual_seed(0)
    return DecoderOnly(IDS, DecoderOnlyConfig(hidden=16, layers=1, heads=2, ff_dim=32)).eval()


def histories(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    out = torch.randint(0, IDS.n_items, (n, 4), generator=gen)
    out[: n // 2, :2] = PAD
    return out


def test_kl_is_zero_at_the_first_step() -> None:
    model = tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    stats = srpo_step(
        model,
        optimizer,
        histories(8),
        torch.arange(8),
        RLConfig(rollouts=6, pass_at_k=4),
        reference=copy.deepcopy(model).requires_grad_(False),
        generator=torch.Generator().manual_seed(0),
    )
    assert stats["kl"] == 0.0 and stats["zero_variance"] < 1.0
    assert stats["sample_seconds"] > 0 and stats["update_seconds"] > 0


def test_groups_without_signal_are_dropped_and_change_nothing() -> None:
    model = tiny()
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    # a near-greedy sampler gives each user one item n times: every group's rewards are equal
    config = RLConfig(rollouts=4, temperature=1e-6, pass_at_k=None)
    stats = srpo_step(model, optimizer, histories(8), torch.arange(8), config)
    assert stats["zero_variance"] == 1.0 and stats["loss"] == 0.0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    "rl",
    [
        {"reward": "exact", "pass_at_k": None},
        {"prefix_credit": (0.5, 0.707), "pass_at_k": 4},
        {"reward": "rank_aware", "rollout": "beam", "pass_at_k": None},
    ],
    ids=["grpo", "srpo", "minionerec"],
)
def test_a_tiny_generator_learns_a_target_from_rewards_alone(rl: dict) -> None:
    model = tiny()
    target = 7
    users = histories(16)
    start, _ = beam_search(model, IDS, users, 1, 1, token_offset=2)
    assert (start != target).any()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-2)
    config = RLConfig(rollouts=8, **rl)
    reward = build_reward(config)  # built once, as the recipe's loop does
    gen = torch.Generator().manual_seed(0)
    exact = []
    for _ in range(40):
        stats = srpo_step(
            model, optimizer, users, torch.full((16,), target), config, generator=gen, reward=reward
        )
        exact.append(stats["exact"])
    top, _ = beam_search(model, IDS, users, 1, 1, token_offset=2)
    assert (top == target).all()
    most = 1 / config.rollouts if config.rollout == "beam" else 1.0  # beams: distinct items
    assert exact[-1] > 0.9 * most > 0.3 * most > exact[0]


def test_pass_at_k_cannot_exceed_the_group() -> None:
    with pytest.raises(ConfigError, match="pass_at_k"):
        RLConfig(rollouts=3, pass_at_k=4)


def test_several_updates_on_one_batch_reach_the_clip() -> None:
    model = tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    config = RLConfig(rollouts=8, updates=4, pass_at_k=None)
    gen = torch.Generator().manual_seed(0)
    stats = srpo_step(model, optimizer, histories(16), torch.arange(16), config, generator=gen)
    # the first update is on-policy (ratio 1); by the fourth the ratio has left [0.8, 1.2]
    assert stats["clipped"] > 0


def test_reasoning_mode_samples_its_rollouts() -> None:
    with pytest.raises(ConfigError, match="rl.rollout=sample"):
        RLConfig(mode="reasoning", rollout="beam")


def test_a_tiny_llm_learns_a_target_from_rewards_alone(tiny_causal_lm) -> None:
    from genrec.models.llm_backbone import LLMConfig, llm_backbone

    from ..models.generator_helpers import N_ITEMS

    ids = SemanticIds(np.stack([np.arange(N_ITEMS) // 4, np.arange(N_ITEMS) % 4], 1), (3, 4))
    torch.manual_seed(0)
    model = llm_backbone(ids, LLMConfig(source=str(tiny_causal_lm)), device="cpu").eval()
    users, target = torch.tensor([[PAD, 1, 2, 3], [4, 5, 6, 7], [PAD, PAD, 8, 9]]), 1
    offset = model.token_offset
    start, _ = beam_search(model, ids, users, 1, 1, token_offset=offset)
    assert (start != target).any()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    reference = copy.deepcopy(model).requires_grad_(False)
    gen = torch.Generator().manual_seed(0)
    log = []
    for _ in range(30):
        stats = srpo_step(
            model, optimizer, users, torch.full((3,), target), RLConfig(rollouts=8),
            reference=reference, generator=gen,
        )  # fmt: skip
        log.append(stats)
    assert log[0]["kl"] == 0.0 and log[-1]["kl"] > 0
    top, _ = beam_search(model, ids, users, 1, 1, token_offset=offset)
    assert (top == target).all()
    assert log[-1]["exact"] > 0.9 > 0.3 > log[0]["exact"]


def counted(optimizer: torch.optim.Optimizer) -> list[int]:
    """Count ``optimizer``'s steps into the returned one-element list."""
    count, real = [0], optimizer.step

    def step(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    optimizer.step = step  # type: ignore[method-assign]
    return count


def test_minibatches_are_several_optimizer_steps_on_the_drawing_policys_ratio() -> None:
    model = tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    steps = counted(optimizer)
    config = RLConfig(rollouts=8, minibatches=4, updates=2, pass_at_k=None, users_per_step=16)
    gen = torch.Generator().manual_seed(0)
    stats = srpo_step(model, optimizer, histories(16), torch.arange(16), config, generator=gen)
    assert steps[0] == 8  # 2 passes x 4 mini-batches
    # later mini-batches are scored against the policy that drew them: their ratio has moved
    assert 0 < stats["clipped"] < 1


def test_minibatches_cannot_split_a_step_finer_than_its_groups() -> None:
    with pytest.raises(ConfigError, match="minibatches"):
        RLConfig(users_per_step=2, minibatches=4)


def test_refill_replaces_groups_without_signal_up_to_its_bound() -> None:
    # a reward that is 0 for targets 10 and above: their groups have no signal
    config = RLConfig(rollouts=8, reward="exact", pass_at_k=None, refill=3)
    exact = build_reward(config)

    def reward(ids, items, targets, ok):
        return exact(ids, items, targets, ok) * (targets[:, None] < 10)

    dead, live = torch.arange(10, 18), torch.arange(8)
    drawn = []

    def more(round_: int, targets: torch.Tensor = live) -> tuple[torch.Tensor, torch.Tensor]:
        drawn.append(round_)
        return histories(8, seed=round_), targets

    model = tiny()
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    step = functools.partial(srpo_step, generator=gen, reward=reward)
    stats = step(model, optimizer, histories(8), dead, config, more=more)
    assert stats["zero_variance"] == 1.0  # the step's own users
    assert stats["refills"] >= 1 and 0 < stats["groups"] <= 8 and drawn[0] == 1
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    # draws that never have a signal stop at the bound, and change nothing
    model = tiny()
    stats = step(model, optimizer, histories(8), dead, config, more=lambda r: (histories(8), dead))
    assert stats["refills"] == 3 and stats["groups"] == 0
    unrefilled = dataclasses.replace(config, refill=0)
    stats = step(model, optimizer, histories(8), dead, unrefilled, more=more)
    assert stats["refills"] == 0 and stats["groups"] == 0


def test_the_anchor_adds_the_targets_cross_entropy() -> None:
    users, targets = histories(16), torch.arange(16)
    nll = float(target_nll(tiny(), users, targets).detach())
    losses = {}
    for anchor in (0.0, 0.5):
        model = tiny()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        config = RLConfig(rollouts=8, pass_at_k=None, anchor=anchor)
        gen = torch.Generator().manual_seed(0)
        losses[anchor] = srpo_step(model, optimizer, users, targets, config, generator=gen)["loss"]
    assert losses[0.5] - losses[0.0] == pytest.approx(0.5 * nll, rel=1e-4)
    # with no group to learn from, the anchor alone still moves the targets up
    model = tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    greedy = RLConfig(rollouts=4, temperature=1e-6, pass_at_k=None, anchor=1.0)
    stats = srpo_step(model, optimizer, users, targets, greedy)
    assert stats["zero_variance"] == 1.0 and stats["nll"] == pytest.approx(nll, rel=1e-5)
    assert float(target_nll(model, users, targets).detach()) < nll


def test_the_cross_entropy_control_is_plain_supervised_steps(monkeypatch) -> None:
    users, targets = histories(16), torch.arange(16)
    model, manual = tiny(), tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    steps = counted(optimizer)
    config = RLConfig(objective="cross_entropy", minibatches=2, updates=2, users_per_step=16)
    monkeypatch.setattr(srpo, "draw", None)  # no rollout is drawn
    stats = srpo_step(model, optimizer, users, targets, config)
    assert steps[0] == 4 and "reward" not in stats and stats["nll"] > 0
    by_hand = torch.optim.AdamW(manual.parameters(), lr=1e-2)
    for _ in range(2):
        for half in (slice(0, 8), slice(8, 16)):
            by_hand.zero_grad()
            target_nll(manual, users[half], targets[half]).backward()
            torch.nn.utils.clip_grad_norm_(list(manual.parameters()), 1.0)
            by_hand.step()
    for key, value in manual.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)


def test_beam_rollouts_are_the_recommenders_lists() -> None:
    model, users = tiny(), histories(4)
    listed = torch.tensor([[3, 1, 4, 5]] * 4)
    items, tokens = rollout(model, users, 4, mode="beam", recommended=lambda h, n: listed[:, :n])
    assert torch.equal(items, listed)
    table = torch.tensor(np.asarray(IDS.tokens(offset=model.token_offset)))
    assert torch.equal(tokens, table[listed])
