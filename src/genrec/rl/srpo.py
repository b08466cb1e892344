"""One SRPO step: group rollouts, verifiable rewards, group advantages, clipped updates.

The reward is an object chosen by name (``rl.reward``, ``genrec.rl.rewards``), built once from
the config. GRPO is the special case with the exact-match reward and without the Pass@k bonus
(``reward="exact"``, ``pass_at_k=None``). GREAM's recipe also refills groups whose rewards
are all equal with fresh users (DAPO's dynamic sampling, ``rl.refill``) and makes several PPO
mini-batch updates per batch of rollouts (``rl.minibatches``); an optional supervised anchor
(``rl.anchor``) adds the cross-entropy of the targets, and ``rl.objective: cross_entropy``
keeps that term alone: the control that shows what the policy gradient adds to more supervised
training on the same prompts, steps and learning rate. The policy runs in ``eval()`` mode
throughout: without dropout the network that sampled the rollouts and the one being updated
are the same function, so the ratio starts at exactly 1 and the KL to the reference at
exactly 0.

Direct mode rolls out IDs right after the prompt; reasoning mode (the LLM backbone,
``genrec.rl.chain_rollouts``) samples a free chain first, then the constrained ID, and the
update covers the chain's tokens and the ID's, with reward 0 for a chain that never wrote the
answer marker (the format gate).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from genrec.config import bounded, configclass
from genrec.rl.advantages import group_advantages
from genrec.rl.chain_rollouts import chain_rollouts
from genrec.rl.objective import clipped_objective
from genrec.rl.policy import Policy, target_nll
from genrec.rl.rewards import PREFIX_CREDIT, REWARDS, Reward, build_reward
from genrec.rl.rewards.reward import exact_hits
from genrec.rl.rollouts import IdRollouts, Recommended, Rollouts, rollout


@configclass
class RLConfig:
    """RL post-training (``init_from:`` recipes); defaults are GREAM's SRPO (arXiv 2510.20815)
    where the old defaults allow: its optimiser's values are given beside each field."""

    # "policy_gradient": SRPO / GRPO on rewarded rollouts; "cross_entropy": the control, no
    # rollouts and no policy gradient, only the targets' negative log-likelihood on the same
    # prompts, steps, mini-batches and learning rate (what RL adds over more supervision).
    objective: Literal["policy_gradient", "cross_entropy"] = "policy_gradient"
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
    # "sample": the constrained sampler, an unbiased sample of the policy; "beam": the n best
    # items of the recommender's own beam search (decode.beams wide, in decode.precision), the
    # list it returns (MiniOneRec), scored at temperature 1.
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
    # Extra draws of rl.users_per_step users per step that replace groups whose rewards are
    # all equal (no signal), until the step has rl.users_per_step groups with a signal (DAPO's
    # dynamic sampling; GREAM allows 10). 0: such groups are dropped and the step updates on
    # fewer (as before).
    refill: int = bounded(0, ge=0)
    # PPO's clip range of the probability ratio.
    clip: float = bounded(0.2, gt=0, lt=1)
    # Weight of the k3 KL penalty to the frozen starting model (0: no reference kept).
    kl_beta: float = bounded(0.001, ge=0)
    # Weight of a supervised anchor: the cross-entropy of each user's target (the mean over
    # its ID tokens, direct prompt) added to the loss; AdaGRPO anchors GRPO so. 0: none.
    anchor: float = bounded(0.0, ge=0)
    # Passes over each batch of rollouts (PPO epochs); > 1 is where clipping acts.
    updates: int = bounded(1, ge=1)
    # Optimizer steps per pass: the batch's groups split into this many mini-batches, each
    # an update on the ratio to the policy that drew the rollouts (GREAM: 4, one pass).
    minibatches: int = bounded(1, ge=1)
    # The optimiser: AdamW at `lr` (null: train.lr) with `weight_decay` (null:
    # train.weight_decay), a linear warm-up of `warmup_steps` RL steps, then "constant" or a
    # half "cosine" to 0 at rl.steps. GREAM: lr 2e-6, 10 warm-up steps, weight decay 0.1,
    # constant; MiniOneRec: lr 1e-5, cosine with warm-up.
    lr: float | None = bounded(None, gt=0)
    weight_decay: float | None = bounded(None, ge=0)
    warmup_steps: int = bounded(0, ge=0)
    lr_schedule: Literal["constant", "cosine"] = "constant"
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
        if self.minibatches > self.users_per_step:
            raise ValueError(
                f"minibatches ({self.minibatches}) must not exceed users_per_step "
                f"({self.users_per_step}): a mini-batch holds whole groups"
            )


#: A fresh draw of users for refill round ``r`` (1, 2, ...): ``(histories [B, L], targets [B])``.
Draw = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


def draw(
    policy: Policy,
    histories: torch.Tensor,
    config: RLConfig,
    chain_tokens: int,
    generator: torch.Generator | None,
    recommended: Recommended | None = None,
) -> Rollouts:
    """The step's ``config.rollouts`` rollouts per history ``[B, L]`` (see ``RLConfig.mode``);
    ``recommended``: where beam rollouts come from (``rollout``)."""
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
        policy,
        histories,
        n,
        mode=config.rollout,
        temperature=temperature,
        generator=generator,
        recommended=recommended,
    )
    return IdRollouts(items, tokens, histories, temperature)


@dataclass(frozen=True)
class Groups:
    """One draw's rollouts with their users' ``targets [B]``, ``advantages [B, n]`` and which
    groups the update uses (``used [B]`` bool)."""

    rollouts: Rollouts
    histories: torch.Tensor  # [B, L]
    targets: torch.Tensor
    advantages: torch.Tensor
    used: torch.Tensor


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
    more: Draw | None = None,
    recommended: Recommended | None = None,
) -> dict[str, float]:
    """One step on users ``histories [B, L]`` with next items ``targets [B]``; ``policy`` (an
    ``nn.Module`` in ``eval()`` mode) is updated in place. ``reference`` is the frozen start
    (None: no KL term); ``chain_tokens`` bounds reasoning mode's chains; ``reward`` scores the
    rollouts (None: the one ``config.reward`` names, built now; a loop builds it once);
    ``more`` draws the users that refill groups without signal (``config.refill``; None: no
    refill); ``recommended`` gives beam rollouts (``genrec.rl.rollouts.rollout``).
    With ``config.objective == "cross_entropy"`` no rollout is drawn (``cross_entropy_step``).
    Returns the step's statistics: reward, exact and zero_variance are the first draw's (the
    step's users), clipped the mean over the step's optimizer steps."""
    if config.objective == "cross_entropy":
        return cross_entropy_step(policy, optimizer, histories, targets, config, grad_clip)
    started = time.perf_counter()
    reward = build_reward(config) if reward is None else reward
    wanted = len(targets)
    stats: dict[str, float] = {}
    parts: list[Groups] = []
    for round_ in range(config.refill + 1):
        if round_:
            if more is None or sum(int(p.used.sum()) for p in parts) >= wanted:
                break
            histories, targets = more(round_)
        batch = draw(policy, histories, config, chain_tokens, generator, recommended)
        rewards = reward(policy.ids, batch.items, targets, batch.format_ok)  # [B, n]
        hits = exact_hits(batch.items, targets, batch.format_ok)  # a malformed output: no hit
        groups = group_advantages(rewards, hits, config.pass_at_k)
        kept = groups.kept.to(targets.device)
        room = wanted - sum(int(p.used.sum()) for p in parts)
        used = kept & (kept.cumsum(0) <= room)  # a refill tops the step up to `wanted` groups
        parts.append(Groups(batch, histories, targets, groups.advantages, used))
        if not round_:
            stats = {
                "reward": float(rewards.mean()),
                "exact": float(hits.float().mean()),
                "zero_variance": groups.zero_variance_share,
            }
            if batch.format_ok is not None:
                stats["well_formed"] = float(batch.format_ok.float().mean())
    sampled = time.perf_counter()
    stats |= {"refills": float(len(parts) - 1), "groups": float(sum(p.used.sum() for p in parts))}
    stats |= update(policy, optimizer, parts, config, reference, grad_clip)
    stats["sample_seconds"] = sampled - started
    stats["update_seconds"] = time.perf_counter() - sampled
    return stats


def minibatch_masks(parts: list[Groups], k: int) -> list[list[torch.Tensor]]:
    """The used groups of ``parts`` in ``k`` mini-batches of near-equal size (whole groups,
    in order): per mini-batch, one ``[B]`` bool mask per part (some may be empty)."""
    owner = torch.cat([torch.full((int(p.used.sum()),), i) for i, p in enumerate(parts)])
    row = torch.cat([torch.nonzero(p.used.cpu()).flatten() for p in parts])
    batches = []
    for chunk in torch.arange(len(owner)).tensor_split(k):
        masks = []
        for i, part in enumerate(parts):
            mask = torch.zeros(len(part.used), dtype=torch.bool)
            mask[row[chunk][owner[chunk] == i]] = True
            masks.append(mask.to(part.used.device))
        batches.append(masks)
    return batches


def scored(
    policy: Policy, parts: list[Groups], masks: list[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Log-probabilities of the rollouts of the users ``masks`` pick (one mask per part)
    under ``policy``, parts stacked: ``(logp [R, T], mask [R, T] or None, gains [R])``;
    outputs of different lengths are right-padded (logp 0) and masked."""
    rows = [
        (*part.rollouts.logprobs(policy, users), part.advantages[users].flatten())
        for part, users in zip(parts, masks, strict=True)
        if users.any()
    ]
    gains = torch.cat([gain for _, _, gain in rows])
    if len(rows) == 1:
        return rows[0][0], rows[0][1], gains
    width = max(logp.shape[1] for logp, _, _ in rows)
    if all(m is None and logp.shape[1] == width for logp, m, _ in rows):
        return torch.cat([logp for logp, _, _ in rows]), None, gains
    logps, real = [], []
    for logp, m, _ in rows:
        m = torch.ones_like(logp, dtype=torch.bool) if m is None else m.to(torch.bool)
        logps.append(nn.functional.pad(logp, (0, width - logp.shape[1])))
        real.append(nn.functional.pad(m, (0, width - m.shape[1])))
    return torch.cat(logps), torch.cat(real), gains


def update(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    parts: list[Groups],
    config: RLConfig,
    reference: Policy | None,
    grad_clip: float,
) -> dict[str, float]:
    """``config.updates`` passes of ``config.minibatches`` clipped updates over the used
    groups of ``parts`` (none: no update, unless the anchor alone acts). The ratio is to the
    policy that drew the rollouts: its log-probabilities are taken before the first update
    (with one mini-batch, from the first pass itself)."""
    stats = {"kl": 0.0, "loss": 0.0, "clipped": 0.0}
    if not any(p.used.any() for p in parts):
        if config.anchor > 0:  # no group has a signal: the anchor alone
            first = parts[0]
            return stats | cross_entropy_updates(
                policy, optimizer, first.histories, first.targets, config, grad_clip, config.anchor
            )
        return stats
    batches = minibatch_masks(parts, min(config.minibatches, sum(int(p.used.sum()) for p in parts)))
    old: list[torch.Tensor | None] = [None] * len(batches)
    ref: list[torch.Tensor | None] = [None] * len(batches)
    with torch.no_grad():
        for j, masks in enumerate(batches):
            if reference is not None:
                ref[j] = scored(reference, parts, masks)[0]
            if len(batches) > 1:  # later mini-batches are scored after earlier updates
                old[j] = scored(policy, parts, masks)[0]
    users_of = parts[0].targets
    anchors = torch.arange(len(users_of), device=users_of.device).tensor_split(len(batches))
    clipped = []
    for epoch in range(config.updates):
        for j, masks in enumerate(batches):
            logp, mask, gains = scored(policy, parts, masks)
            old[j] = logp.detach() if old[j] is None else old[j]
            objective = clipped_objective(
                logp,
                old[j],
                gains,
                clip=config.clip,
                ref_logp=ref[j],
                kl_beta=config.kl_beta,
                mask=mask,
            )
            loss = objective.loss
            if config.anchor > 0:
                users = anchors[j]
                loss = loss + config.anchor * target_nll(
                    policy, parts[0].histories[users], parts[0].targets[users]
                )
            step(optimizer, loss, grad_clip)
            if epoch == 0 and j == 0:  # the batch as drawn: KL of the policy that drew it
                stats.update(kl=objective.kl, loss=float(loss.detach()))
            clipped.append(objective.clipped)
    stats["clipped"] = sum(clipped) / len(clipped)
    return stats


def cross_entropy_updates(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    histories: torch.Tensor,
    targets: torch.Tensor,
    config: RLConfig,
    grad_clip: float,
    weight: float = 1.0,
) -> dict[str, float]:
    """``config.updates`` passes of ``config.minibatches`` optimizer steps on ``weight`` x the
    cross-entropy of ``targets [B]`` after ``histories [B, L]``; returns the first ``nll``."""
    first = 0.0
    chunks = torch.arange(len(targets), device=targets.device).tensor_split(config.minibatches)
    for epoch in range(config.updates):
        for j, users in enumerate(chunks):
            nll = target_nll(policy, histories[users], targets[users])
            step(optimizer, weight * nll, grad_clip)
            if epoch == 0 and j == 0:
                first = float(nll.detach())
    return {"nll": first, "loss": weight * first}


def cross_entropy_step(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    histories: torch.Tensor,
    targets: torch.Tensor,
    config: RLConfig,
    grad_clip: float = 1.0,
) -> dict[str, float]:
    """The control (``objective: cross_entropy``): the policy-gradient step's optimizer steps
    (``updates`` x ``minibatches``) on the same users, minimising only their targets'
    negative log-likelihood (weight 1; ``anchor`` is not read). No rollout, no reward."""
    started = time.perf_counter()
    stats = cross_entropy_updates(policy, optimizer, histories, targets, config, grad_clip)
    return stats | {"sample_seconds": 0.0, "update_seconds": time.perf_counter() - started}


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, grad_clip: float) -> None:
    """One optimizer step on ``loss``, gradients clipped to norm ``grad_clip`` (0: not)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
