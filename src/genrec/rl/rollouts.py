"""Group rollouts: ``n`` real items per user from the generator itself.

Sampling (the default) draws each user's ``n`` items independently from the constrained,
tempered distribution (``genrec.decoding.sampling``): a group may repeat an item, and its
rewards estimate the policy's expected reward, as the policy gradient needs. Beam search
(MiniOneRec's choice) gives the ``n`` most likely distinct items instead: more of the group
near the top of the list, but a biased sample of the policy; post-training takes them from the
recommender itself (its beam width and decoding precision), so the rewarded list is the one it
returns.

A step's rollouts (``Rollouts``) are their items, whether each output was well formed, and a
way to score their tokens again under any policy (the one being updated, the frozen
reference): here the ID tokens alone; in reasoning mode (``genrec.rl.chain_rollouts``) the
chain's tokens too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch

from genrec.data.windows import PAD
from genrec.decoding.beam_search import beam_search
from genrec.decoding.sampling import sample
from genrec.rl.policy import Policy, token_logprobs

RolloutMode = Literal["sample", "beam"]
#: What the recommender returns for ``histories [B, L]`` and a list length ``n``: ``items [B,
#: n]``, best first (``PAD`` where short). Beam rollouts through it are the recommender's lists.
Recommended = Callable[[torch.Tensor, int], torch.Tensor]


class Rollouts(Protocol):
    """``n`` outputs for each of ``B`` users, as one SRPO step uses them."""

    items: torch.Tensor  # [B, n] the answers, real items
    format_ok: torch.Tensor | None  # [B, n] bool, False for a malformed output (None: all ok)

    def logprobs(
        self, policy: Policy, users: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Log-probabilities of the emitted tokens of the rollouts of ``users [B]`` (bool)
        under ``policy`` -> ``(logp [R, T], mask [R, T] or None)``, rows user-major (``R`` =
        kept users x ``n``), differentiable; ``mask`` marks real tokens (padding holds 0)."""
        ...


@dataclass(frozen=True)
class IdRollouts:
    """Rollouts that are ID tokens right after the prompt (direct mode)."""

    items: torch.Tensor  # [B, n]
    tokens: torch.Tensor  # [B, n, L'] their ID tokens
    histories: torch.Tensor  # [B, L]
    temperature: float
    format_ok: torch.Tensor | None = None

    def logprobs(self, policy: Policy, users: torch.Tensor) -> tuple[torch.Tensor, None]:
        scored = token_logprobs(policy, self.histories[users], self.tokens[users], self.temperature)
        return scored.flatten(0, 1), None


def rollout(
    policy: Policy,
    histories: torch.Tensor,
    n: int,
    *,
    mode: RolloutMode = "sample",
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    recommended: Recommended | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` items per history ``[B, L]`` -> ``(items [B, n], tokens [B, n, L'])``, every one a
    real item of ``policy.ids`` (``ValueError`` if the catalog cannot fill a beam group).

    Beam rollouts are ``recommended``'s top ``n`` when given (the recommender's own beams,
    precision and scoring: exactly the list it returns), else a beam search of width ``n``."""
    ids, offset = policy.ids, policy.token_offset
    if mode == "sample":
        items, _ = sample(
            policy,
            ids,
            histories,
            n,
            temperature=temperature,
            generator=generator,
            token_offset=offset,
        )
    elif mode == "beam" and recommended is not None:
        with torch.no_grad():
            items = recommended(histories, n).to(histories.device)
    elif mode == "beam":
        items, _ = beam_search(policy, ids, histories, n, n, token_offset=offset)
    else:
        raise ValueError(f"rollout mode must be 'sample' or 'beam'; got {mode!r}")
    if (items == PAD).any():
        raise ValueError(
            f"could not draw {n} {'distinct ' if mode == 'beam' else ''}items for every user "
            f"(the catalog has {ids.n_items}); use fewer rollouts"
        )
    table = torch.from_numpy(np.asarray(ids.tokens(offset=offset), dtype=np.int64))
    return items, table.to(items.device)[items]
