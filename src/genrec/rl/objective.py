"""The policy-gradient objective: PPO's clipped ratio with a k3 KL penalty, token-averaged.

Per token ``t`` of rollout ``i`` with advantage ``A_i``: ``ratio = pi(t) / pi_old(t)`` and the
loss ``-min(ratio A_i, clip(ratio, 1 - eps, 1 + eps) A_i) + beta k3``, where
``k3 = pi_ref / pi - log(pi_ref / pi) - 1`` keeps the policy near the frozen starting model. The
mean runs over all tokens of the batch (token-level averaging, as DAPO), so every emitted
token weighs the same whatever the length of its output.

What the k3 term is depends on where the tokens come from. Under sampled rollouts
(``rl.rollout: sample``, tokens drawn from pi) its mean is Schulman's unbiased, always
non-negative estimate of KL(pi || pi_ref). Under beam rollouts (``rl.rollout: beam``) the tokens
are the policy's top beams, not samples of it: the term is then a penalty on the divergence
evaluated on those few most likely items (each weighted alike, not by its probability), which
is neither unbiased for the KL nor an estimate of it; it still is 0 where pi = pi_ref and
grows as the two part on the items the recommender returns. Its logged value reads alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Objective:
    """The loss to minimise and what to log of it (floats, detached)."""

    loss: torch.Tensor
    kl: float  # mean k3 per token (0 without a reference): the KL only under sampled rollouts
    clipped: float  # share of tokens whose ratio left [1 - eps, 1 + eps] against the advantage


def k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 of ``log pi`` and ``log pi_ref`` (same shape): averaged over tokens sampled
    from pi, an unbiased estimate of KL(pi || pi_ref); over beams, a penalty (module docstring)."""
    log_ratio = ref_logp - logp
    return log_ratio.exp() - log_ratio - 1


def clipped_objective(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    *,
    clip: float = 0.2,
    ref_logp: torch.Tensor | None = None,
    kl_beta: float = 0.001,
    mask: torch.Tensor | None = None,
) -> Objective:
    """PPO-clip loss of tokens ``logp [R, T]`` (with grad) sampled under ``old_logp [R, T]``,
    rollouts' ``advantages [R]`` and, with ``ref_logp [R, T]``, the ``kl_beta`` k3 penalty.
    ``mask [R, T]`` (bool) marks the real tokens of outputs of different lengths (reasoning
    chains); only they count in the means (None: every token is real)."""
    if logp.shape != old_logp.shape or advantages.shape != logp.shape[:1]:
        raise ValueError(
            f"logp {tuple(logp.shape)} and old_logp {tuple(old_logp.shape)} must be [R, T] and "
            f"advantages {tuple(advantages.shape)} [R]"
        )
    ratio = (logp - old_logp.detach()).exp()
    gain = advantages.detach()[:, None]
    surrogate = torch.minimum(ratio * gain, ratio.clamp(1 - clip, 1 + clip) * gain)
    per_token = -surrogate
    kl = torch.zeros(())
    if ref_logp is not None:
        kl = k3(logp, ref_logp.detach())
        per_token = per_token + kl_beta * kl
    clipped = ratio * gain > surrogate
    if mask is None:
        return Objective(per_token.mean(), float(kl.detach().mean()), float(clipped.float().mean()))
    real, count = mask.to(torch.bool), mask.sum().clamp(min=1)  # padding must hold finite logp

    def mean(values: torch.Tensor) -> torch.Tensor:
        return values.masked_fill(~real, 0).sum() / count

    kl_mean = float(mean(kl.detach())) if ref_logp is not None else 0.0
    return Objective(mean(per_token), kl_mean, float(mean(clipped.float())))
