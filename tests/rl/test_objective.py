"""The clipped objective and its k3 KL term against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from genrec.rl.objective import clipped_objective, k3


def test_k3_hand_computed_and_zero_at_equal_policies() -> None:
    logp, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    # r = pi_ref / pi = 0.5: 0.5 - log 0.5 - 1
    assert k3(logp, ref).item() == pytest.approx(0.5 - math.log(0.5) - 1)
    assert k3(ref, ref).item() == 0.0


def test_on_policy_loss_is_minus_the_mean_advantage_per_token() -> None:
    logp = torch.log(torch.tensor([[0.5, 0.2], [0.1, 0.9]])).requires_grad_()
    out = clipped_objective(logp, logp.detach(), torch.tensor([2.0, -1.0]), ref_logp=logp)
    assert out.loss.item() == pytest.approx(-(2 + 2 - 1 - 1) / 4)
    assert out.kl == 0.0 and out.clipped == 0.0
    out.loss.backward()
    # d loss / d logp = -A / (number of tokens) at ratio 1
    torch.testing.assert_close(logp.grad, torch.tensor([[-0.5, -0.5], [0.25, 0.25]]))


def test_ratio_beyond_the_clip_range_stops_the_gradient_for_gains_only() -> None:
    old = torch.log(torch.tensor([[0.2], [0.2]]))
    logp = (old + math.log(1.5)).requires_grad_()  # ratio 1.5 > 1 + 0.2
    out = clipped_objective(logp, old, torch.tensor([1.0, -1.0]), clip=0.2)
    # positive advantage: min(1.5, 1.2) -> clipped, no gradient; negative: min(-1.5, -1.2) = -1.5
    assert out.loss.item() == pytest.approx((-1.2 + 1.5) / 2)
    assert out.clipped == 0.5
    out.loss.backward()
    assert logp.grad[0, 0].item() == 0.0
    assert logp.grad[1, 0].item() == pytest.approx(1.5 / 2)


def test_kl_penalty_is_weighted_by_beta() -> None:
    logp = torch.log(torch.tensor([[0.5]]))
    ref = torch.log(torch.tensor([[0.25]]))
    out = clipped_objective(logp, logp, torch.tensor([0.0]), ref_logp=ref, kl_beta=0.1)
    assert out.kl == pytest.approx(0.5 - math.log(0.5) - 1)
    assert out.loss.item() == pytest.approx(0.1 * out.kl)


def test_a_mask_leaves_padding_out_of_every_mean() -> None:
    logp = torch.log(torch.tensor([[0.5, 0.2, 1.0], [0.1, 1.0, 1.0]])).requires_grad_()
    mask = torch.tensor([[True, True, False], [True, False, False]])
    ref = logp.detach() - 0.1 * mask  # padding's reference is the same: no KL from it
    out = clipped_objective(logp, logp.detach(), torch.tensor([2.0, -1.0]), ref_logp=ref, mask=mask)
    # three real tokens: (-2 - 2 + 1) / 3, plus the KL term of three equal k3 values
    kl = math.exp(-0.1) + 0.1 - 1
    assert out.loss.item() == pytest.approx(-(2 + 2 - 1) / 3 + 0.001 * kl)
    assert out.kl == pytest.approx(kl, rel=1e-5)
    out.loss.backward()
    assert (logp.grad[~mask] == 0).all() and (logp.grad[mask] != 0).all()
