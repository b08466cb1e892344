"""Reasoning-mode rollouts of the LLM backbone: a sampled free chain, then a constrained ID.

Each of a user's ``n`` rollouts samples its own chain after the reasoning prompt (at most
``chain_tokens`` tokens of text, temperature as the ID's), stopping at the answer marker the
model writes, or at the end of its turn. The marker is then appended (as reasoning mode's
decoding does, ``genrec.recommend.reasoning``) and the answer is drawn by the shared
constrained sampler, so it is always a real item.

Format gate: an output is well formed only when the model wrote ``<answer>`` itself within the
budget; a chain cut by the cap or ended by end-of-turn (or padding) still gets its forced
answer (decoding never fails) but reward 0, and its chain tokens, stop included, a negative
advantage in a group with any well-formed output.

Chain tokens are drawn from the softmax of ``logits / temperature`` over the text vocabulary
and the marker (never an ID token, as ``ReasoningRecommender.write_chains``); the update
scores them with that same distribution in one teacher-forced pass (chain, marker, ID) per
rollout on its user's prompt, run once per user, so the chain's tokens and the ID's share one
gradient. The answer is drawn after a second prefill of prompt, chain and marker (the
sampler's own ``start``): simpler than handing it the chain's cache, at about a fifth of a step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genrec.data.windows import PAD
from genrec.decoding.sampling import sample
from genrec.models.kv_cache import from_cache, repeat_rows, to_cache
from genrec.models.llm_backbone import LLMBackbone
from genrec.models.llm_prompts import REASONING_REQUEST
from genrec.recommend.prompted import Primed
from genrec.rl.policy import Policy, id_logprobs


def chain_logprobs(model: LLMBackbone, logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-probabilities of the next chain token from ``logits [R, V]`` -> float32 ``[R, V]``:
    softmax of ``logits / temperature`` over the tokens before the ID range and the answer
    marker right after it (-inf for the ID tokens and any row past the marker)."""
    scores = logits.float() / temperature
    allowed = torch.zeros(scores.shape[-1], dtype=torch.bool, device=scores.device)
    allowed[: model.token_offset] = True
    allowed[marker(model)] = True
    return scores.masked_fill(~allowed, float("-inf")).log_softmax(dim=-1)


def marker(model: LLMBackbone) -> int:
    """The answer marker's token, right after the ID tokens (``add_id_tokens``)."""
    return model.token_offset + model.ids.vocab_size


@torch.no_grad()
def prefill(model: LLMBackbone, prompts: Sequence[Sequence[int]]) -> tuple[Any, torch.Tensor]:
    """One forward over the left-padded ``prompts`` with a fresh cache -> (the core model's
    output, its cache included; the attention mask ``[B, width]``)."""
    from transformers.cache_utils import DynamicCache  # here: a slow import

    device, pad = model.lm.device, model.tokenizer.pad_token_id
    width = max(len(p) for p in prompts)
    tokens = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    out = model.core()(
        input_ids=tokens,
        attention_mask=mask,
        position_ids=(mask.cumsum(1) - 1).clamp(min=0),
        cache=DynamicCache(),
        use_cache=True,
    )
    return out, mask


def sample_chains(
    model: LLMBackbone,
    prompts: list[list[int]],
    n: int,
    max_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[list[list[int]], torch.Tensor]:
    """``n`` chains per prompt (row ``b * n + j`` is user ``b``'s ``j``-th), each the sampled
    tokens up to and including the first stop (marker, end of turn, padding), at most
    ``max_tokens``; and each chain's log-probability ``[B * n]`` (float32). Each prompt is
    prefilled once and its cache shared by its ``n`` rows."""
    device, pad = model.lm.device, model.tokenizer.pad_token_id
    rows = len(prompts) * n
    if max_tokens == 0 or rows == 0:
        return [[] for _ in range(rows)], torch.zeros(rows, device=device)
    out, mask = prefill(model, prompts)
    kv = repeat_rows(from_cache(out.cache), n)
    mask = mask.repeat_interleave(n, dim=0)
    hidden = out.last_hidden_state[:, -1].repeat_interleave(n, dim=0)
    stops = torch.tensor(sorted({marker(model), model.tokenizer.eos_token_id, pad}), device=device)
    written = torch.full((rows, max_tokens), pad, device=device)
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    total = torch.zeros(rows, device=device)
    for t in range(max_tokens):
        logp = chain_logprobs(model, model.head(hidden), temperature)
        token = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
        total += torch.where(done, 0.0, logp.gather(1, token[:, None]).squeeze(1))
        written[:, t] = torch.where(done, pad, token)
        live = ~done  # the rows that wrote a token now
        done = done | torch.isin(token, stops)
        if done.all() or t + 1 == max_tokens:
            break
        mask = torch.cat([mask, (live & ~done).long()[:, None]], dim=1)
        out = model.core()(
            input_ids=written[:, t : t + 1],
            attention_mask=mask,
            position_ids=mask.sum(1, keepdim=True) - 1,
            cache=to_cache(kv),
            use_cache=True,
        )
        kv, hidden = from_cache(out.cache), out.last_hidden_state[:, -1]
    lengths = torch.where(
        torch.isin(written, stops).any(1),
        torch.isin(written, stops).long().argmax(1) + 1,  # up to and including the stop
        max_tokens,
    )
    chains = [row[:length] for row, length in zip(written.tolist(), lengths.tolist(), strict=True)]
    return chains, total


@dataclass(frozen=True)
class ChainRollouts:
    """``n`` reasoned rollouts per user (``genrec.rl.rollouts.Rollouts``)."""

    items: torch.Tensor  # [B, n] the answers, real items
    format_ok: torch.Tensor  # [B, n] the chain wrote the answer marker itself
    prompts: list[list[int]]  # per user, the reasoning prompt's tokens
    chains: list[list[int]]  # per rollout (user-major), sampled tokens with the stop written
    tokens: torch.Tensor  # [B, n, L'] the answers' ID tokens
    temperature: float

    def logprobs(self, policy: Policy, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Chain tokens then ID tokens of the rollouts of ``users [B]`` (bool) under ``policy``
        (an ``LLMBackbone``) -> ``(logp [R, C + L'], mask [R, C + L'])``, ``C`` the longest
        chain; teacher-forced: each user's prompt is run once, then each rollout's chain,
        marker and ID on the prompt's cache (the gradient flows through both)."""
        model = backbone(policy)
        n, n_levels = self.tokens.shape[1:]
        kept = torch.nonzero(users.cpu()).squeeze(1).tolist()
        rows = [b * n + j for b in kept for j in range(n)]
        ids = self.tokens.flatten(0, 1)[rows]  # [R, L']
        device, pad = model.lm.device, model.tokenizer.pad_token_id
        prompts = [self.prompts[b] for b in kept]
        out, mask = prefill(model, prompts)
        # Each rollout's continuation: its chain (the stop left out), the marker, the ID but
        # its last token, right-padded after the prompt's cache.
        stops = self.stops(model)
        bodies = [c[:-1] if c and c[-1] in stops else c for c in (self.chains[r] for r in rows)]
        follow = [[*b, marker(model), *a[:-1]] for b, a in zip(bodies, ids.tolist(), strict=True)]
        length = max(len(f) for f in follow)
        inputs = torch.tensor([f + [pad] * (length - len(f)) for f in follow], device=device)
        real = torch.tensor([[1] * len(f) + [0] * (length - len(f)) for f in follow], device=device)
        hidden = model.core()(
            input_ids=inputs,
            attention_mask=torch.cat([mask.repeat_interleave(n, dim=0), real], dim=1),
            position_ids=mask.sum(1).repeat_interleave(n)[:, None]
            + torch.arange(length, device=device),
            cache=to_cache(repeat_rows(from_cache(out.cache), n)),
            use_cache=True,
        ).last_hidden_state
        # before[:, i]: the state that predicts token i of chain + marker + ID.
        last = out.last_hidden_state[:, -1].repeat_interleave(n, dim=0)
        hidden = torch.cat([last[:, None], hidden], dim=1)
        chain_at = [range(len(self.chains[r])) for r in rows]
        id_at = [range(len(b) + 1, len(b) + 1 + n_levels) for b in bodies]
        longest = max(len(c) for c in chain_at)
        chain_mask = torch.tensor(
            [[i < len(c) for i in range(longest)] for c in chain_at], device=device
        ).view(len(rows), longest)
        every = torch.arange(len(rows), device=device)[:, None]
        chain_logp = torch.zeros(len(rows), longest, device=device)
        if longest:
            at = torch.tensor([list(c) + [0] * (longest - len(c)) for c in chain_at], device=device)
            targets = torch.tensor(
                [self.chains[r] + [0] * (longest - len(self.chains[r])) for r in rows],
                device=device,
            )
            logp = chain_logprobs(
                model, model.head(hidden[every, at][chain_mask]), self.temperature
            )
            scored = logp.gather(1, targets[chain_mask][:, None]).squeeze(1)
            chain_logp = chain_logp.masked_scatter(chain_mask, scored)
        id_hidden = hidden[every, torch.tensor([list(r) for r in id_at], device=device)]
        logits = model.id_logits(id_hidden)  # [R, L', V]
        id_logp = id_logprobs(
            model.ids,
            model.token_offset,
            ids.to(device),
            [logits[:, level] for level in range(n_levels)],
            self.temperature,
        )
        real_ids = torch.ones(len(rows), n_levels, dtype=torch.bool, device=device)
        return torch.cat([chain_logp, id_logp], dim=1), torch.cat([chain_mask, real_ids], dim=1)

    @staticmethod
    def stops(model: LLMBackbone) -> set[int]:
        """The tokens that end a chain (``sample_chains``)."""
        return {marker(model), model.tokenizer.eos_token_id, model.tokenizer.pad_token_id}


def backbone(policy: Policy) -> LLMBackbone:
    """``policy`` as the LLM backbone reasoning mode needs (``TypeError`` otherwise)."""
    if not isinstance(policy, LLMBackbone):
        raise TypeError(
            f"reasoning-mode rollouts write a chain of text: they need an LLMBackbone, not "
            f"{type(policy).__name__} (use rl.mode=direct)"
        )
    return policy


def chain_rollouts(
    policy: Policy,
    histories: torch.Tensor,
    n: int,
    *,
    chain_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> ChainRollouts:
    """``n`` reasoned rollouts per history ``[B, L]``: a chain of at most ``chain_tokens``
    sampled tokens, the marker, then an ID drawn by the constrained sampler (a real item)."""
    model = backbone(policy)
    prompts = model.prompt_tokens(histories, None, REASONING_REQUEST)
    chains, _ = sample_chains(model, prompts, n, chain_tokens, temperature, generator)
    stops = ChainRollouts.stops(model)
    primed = [
        [*prompts[row // n], *(c[:-1] if c and c[-1] in stops else c), marker(model)]
        for row, c in enumerate(chains)
    ]
    items, _ = sample(
        Primed(model, primed),
        model.ids,
        histories.repeat_interleave(n, dim=0),
        1,
        temperature=temperature,
        generator=generator,
        token_offset=model.token_offset,
    )
    items = items.view(len(histories), n)
    if (items == PAD).any():
        raise ValueError("the constrained sampler found no item for a reasoned rollout")
    formed = torch.tensor([bool(c) and c[-1] == marker(model) for c in chains])
    table = torch.from_numpy(np.asarray(model.ids.tokens(offset=model.token_offset), np.int64))
    return ChainRollouts(
        items,
        formed.view(len(histories), n).to(items.device),
        prompts,
        chains,
        table.to(items.device)[items],
        temperature,
    )
