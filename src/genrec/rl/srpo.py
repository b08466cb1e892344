"""One SRPO step: group rollouts, verifiable rewards, group advantages, clipped updates.

The reward is an object chosen by name (``rl.reward``, ``genrec.rl.rewards``), built once from
the config. GRPO is the special case with the exact-match reward and without the Pass@k bonus
(``reward="exact"``, ``pass_at_k=None``). The policy runs in ``eval()`` mode throughout:
without dropout the network that sampled the rollouts and the one being updated are the same
function, so the ratio starts at exactly 1 and the KL to the reference at exactly 0.

Direct mode rolls out IDs right after the prompt; reasoning mode (the LLM backbone,
``genrec.rl.chain_rollouts``) samples a free chain first, then the constrained ID, and the
update covers the chain's tokens and the ID's, with reward 0 for a chain that never wrote the
answer marker (the format gate).
"""

from __future__ import annotations

import time
from typing import Literal

import torch
from torch import nn

from genrec.config import bounded, configclass
from genrec.rl.advantages import group_advantages
from genrec.rl.chain_rollouts import chain_rollouts
from genrec.rl.objective import clipped_objective
from genrec.rl.policy import Policy
from genrec.rl.rewards import PREFIX_CREDIT, REWARDS, Reward, build_reward
from genrec.rl.rewards.reward import exact_hits
from genrec.rl.rollouts import IdRollouts, Rollouts, rollout


@configclass
class RLConfig:
    """RL post-training (``init_from:`` recipes); defaults are GREAM's SRPO (arXiv 2510.20815)."""

    # "direct": rollouts are IDs right after the prompt; "reasoning" (model llm only): a
    # sampled chain of at most decode.chain_tokens tokens, then <answer> and the constrained
    # ID, with reward 0 when the chain never writes <answer> itself (the format gate).
    mode: Literal["direct", "reasoning"] = "direct"
    # Upper bound on RL steps; validation-gated early stopping usually ends sooner.
    steps: int = bounded(500, ge=1)
    # Users (groups) per step: each step is one batch of users x rollouts.
    users_per_step: int = bounded(64, ge=1)
    # Rollouts per user (the group), the paper's n = 10.
    rollouts: int = bounded(10, ge=2)
    # "sample": the constrained sampler, an unbiased sample of the policy; "beam": the n most
    # likely distinct items (MiniOneRec), scored at temperature 1.
    rollout: Literal["sample", "beam"] = "sample"
    # Sampling temperature (the policy's own distribution at 1).
    temperature: float = bounded(1.0, gt=0)
    # How a rollout is scored (genrec.rl.rewards.REWARDS): "prefix", SRPO's partial credit for
    # a matched ID prefix; "exact", 1 for the target item only (plain GRPO); "rank_aware",
    # MiniOneRec's exact hit plus a penalty for wrong items by their beam rank (rollout: beam).
    reward: str = "prefix"
    # The prefix reward's c_l for a matched ID prefix of length l (the last for longer ones);
    # [] leaves the exact match alone, as reward "exact" does. Read by reward "prefix" only.
    prefix_credit: tuple[float, ...] = bounded(PREFIX_CREDIT, ge=0, lt=1)
    # k of the closed-form Pass@k bonus; null for none (plain GRPO).
    pass_at_k: int | None = bounded(4, ge=1)
    # PPO's clip range of the probability ratio.
    clip: float = bounded(0.2, gt=0, lt=1)
    # Weight of the k3 KL penalty to the frozen starting model (0: no reference kept).
    kl_beta: float = bounded(0.001, ge=0)
    # Optimizer steps on each batch of rollouts (PPO epochs); > 1 is where clipping acts.
    updates: int = bounded(1, ge=1)
    # Steps between validations (NDCG@10 with the real beam search) and checkpoints.
    eval_every: int = bounded(25, ge=1)

    def __post_init__(self) -> None:
        if build_reward(self).ranked and self.rollout != "beam":
            raise ValueError(
                f"reward={self.reward} reads each rollout's beam rank; set rl.rollout=beam "
                f"(or another reward: {', '.join(REWARDS)})"
            )
        if self.mode == "reasoning" and self.rollout != "sample":
            raise ValueError(
                "mode=reasoning samples each rollout's chain and answer; set rl.rollout=sample "
                "(beam rollouts are for rl.mode=direct)"
            )
        if self.pass_at_k is not None and self.pass_at_k > self.rollouts:
            raise ValueError(
                f"pass_at_k ({self.pass_at_k}) must not exceed rollouts ({self.rollouts}); "
                "lower rl.pass_at_k or raise rl.rollouts"
            )


def draw(
    policy: Policy,
    histories: torch.Tensor,
    config: RLConfig,
    chain_tokens: int,
    generator: torch.Generator | None,
) -> Rollouts:
    """The step's ``config.rollouts`` rollouts per history ``[B, L]`` (see ``RLConfig.mode``)."""
    n = config.rollouts
    temperature = config.temperature if config.rollout == "sample" else 1.0
    if config.mode == "reasoning":
        return chain_rollouts(
            policy,
            histories,
            n,
            chain_tokens=chain_tokens,
            temperature=temperature,
            generator=generator,
        )
    items, tokens = rollout(
        policy, histories, n, mode=config.rollout, temperature=temperature, generator=generator
    )
    return IdRollouts(items, tokens, histories, temperature)


def srpo_step(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    histories: torch.Tensor,
    targets: torch.Tensor,
    config: RLConfig,
    *,
    reference: Policy | None = None,
    generator: torch.Generator | None = None,
    grad_clip: float = 1.0,
    chain_tokens: int = 64,
    reward: Reward | None = None,
) -> dict[str, float]:
    """One step on users ``histories [B, L]`` with next items ``targets [B]``; ``policy`` (an
    ``nn.Module`` in ``eval()`` mode) is updated in place. ``reference`` is the frozen start
    (None: no KL term); ``chain_tokens`` bounds reasoning mode's chains; ``reward`` scores the
    rollouts (None: the one ``config.reward`` names, built now; a loop builds it once).
    Returns the step's statistics."""
    started = time.perf_counter()
    reward = build_reward(config) if reward is None else reward
    batch = draw(policy, histories, config, chain_tokens, generator)
    rewards = reward(policy.ids, batch.items, targets, batch.format_ok)  # [B, n]
    hits = exact_hits(batch.items, targets, batch.format_ok)  # a malformed output is no hit
    groups = group_advantages(rewards, hits, config.pass_at_k)
    sampled = time.perf_counter()
    stats = {
        "reward": float(rewards.mean()),
        "exact": float(hits.float().mean()),
        "zero_variance": groups.zero_variance_share,
        "kl": 0.0,
        "loss": 0.0,
        "clipped": 0.0,
    }
    if batch.format_ok is not None:
        stats["well_formed"] = float(batch.format_ok.float().mean())
    if groups.kept.any():
        kept = groups.kept.to(targets.device)
        gains = groups.advantages[kept].flatten()  # [G * n]: the kept groups' rollouts
        ref_logp = None
        if reference is not None:
            with torch.no_grad():
                ref_logp, _ = batch.logprobs(reference, kept)
        old_logp = None
        for update in range(config.updates):
            logp, mask = batch.logprobs(policy, kept)
            old_logp = logp.detach() if old_logp is None else old_logp
            objective = clipped_objective(
                logp,
                old_logp,
                gains,
                clip=config.clip,
                ref_logp=ref_logp,
                kl_beta=config.kl_beta,
                mask=mask,
            )
            optimizer.zero_grad(set_to_none=True)
            objective.loss.backward()
            if grad_clip > 0:
                params = [p for group in optimizer.param_groups for p in group["params"]]
                nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            if update == 0:  # the batch as sampled: KL of the policy that drew it
                stats.update(kl=objective.kl, loss=float(objective.loss.detach()))
            stats["clipped"] = objective.clipped
    stats["sample_seconds"] = sampled - started
    stats["update_seconds"] = time.perf_counter() - sampled
    return stats
