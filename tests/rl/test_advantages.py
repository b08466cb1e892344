"""Group advantages against hand-computed cases: z-scores, the Pass@k bonus, dropped groups."""

from __future__ import annotations

import math

import pytest
import torch

from genrec.rl.advantages import group_advantages, pass_at_k_bonus


def test_bonus_hand_computed_n10_k4_one_hit() -> None:
    # rho = 1 - C(9,4)/C(10,4) = 1 - 126/210 = 0.4, sigma = sqrt(0.24)
    sigma = math.sqrt(0.24)
    hit, miss = pass_at_k_bonus(10, 4)[1].tolist()
    assert hit == pytest.approx(0.6 / sigma)
    # miss: (1 - rho - C(8,3)/C(9,3)) / sigma = (0.6 - 56/84) / sigma
    assert miss == pytest.approx((0.6 - 56 / 84) / sigma)


def test_bonus_is_zero_at_c0_cn_and_n_equals_k() -> None:
    table = pass_at_k_bonus(10, 4)
    assert table[0].tolist() == [0.0, 0.0] and table[10].tolist() == [0.0, 0.0]
    # c >= 7: every 4 of the 10 hold a hit, Pass@4 is certain, nothing to gain
    assert (table[7:] == 0).all() and (table[1:7] != 0).all()
    assert (pass_at_k_bonus(4, 4) == 0).all()


@pytest.mark.parametrize(("n", "k"), [(10, 4), (8, 1), (6, 3)])
def test_bonus_sums_to_zero_over_a_group(n: int, k: int) -> None:
    table = pass_at_k_bonus(n, k)
    for c in range(n + 1):
        assert c * table[c, 0] + (n - c) * table[c, 1] == pytest.approx(0.0, abs=1e-12)


def test_bonus_needs_k_at_most_n() -> None:
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k_bonus(3, 4)


def test_z_score_plus_bonus_and_dropped_groups() -> None:
    n = 10
    rewards = torch.zeros(3, n)
    rewards[0, 0] = 1.0  # one exact hit among misses
    rewards[1] = 0.5  # all equal partial credit: no signal
    rewards[2] = 1.0  # all hits: no signal
    hits = rewards == 1.0
    plain = group_advantages(rewards, hits, k=None)
    assert plain.kept.tolist() == [True, False, False]
    assert plain.zero_variance_share == pytest.approx(2 / 3)
    # mean 0.1, population std 0.3
    assert plain.advantages[0, 0].item() == pytest.approx(3.0)
    assert plain.advantages[0, 1].item() == pytest.approx(-1 / 3)
    assert (plain.advantages[1:] == 0).all()
    srpo = group_advantages(rewards, hits, k=4)
    hit, miss = pass_at_k_bonus(n, 4)[1].tolist()
    assert srpo.advantages[0, 0].item() == pytest.approx(3.0 + hit)
    assert srpo.advantages[0, 1].item() == pytest.approx(-1 / 3 + miss)
    assert (srpo.advantages[1:] == 0).all()


def test_partial_credit_keeps_groups_without_a_hit() -> None:
    rewards = torch.tensor([[0.5, 0.0, 0.0, 0.707]])
    got = group_advantages(rewards, torch.zeros_like(rewards, dtype=torch.bool), k=4)
    assert got.kept.tolist() == [True] and got.zero_variance_share == 0.0
    # no hit: bonus 0, the z-score alone
    z = (rewards - rewards.mean()) / rewards.std(correction=0)
    torch.testing.assert_close(got.advantages, z)
