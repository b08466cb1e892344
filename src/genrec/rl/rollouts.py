"""Group rollouts: ``n`` real items per user from the generator itself.

Sampling (the default) draws each user's ``n`` items independently from the constrained,
tempered distribution (``genrec.decoding.sampling``): a group may repeat an item, and its
rewards estimate the policy's expected reward, as the policy gradient needs. Beam search
(MiniOneRec's choice) gives the ``n`` most likely distinct items instead: more of the group
near the top of the list, but a biased sample of the policy.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from genrec.decoding.beam_search import beam_search
from genrec.decoding.sampling import sample
from genrec.models.recommender import PAD
from genrec.rl.policy import Policy

RolloutMode = Literal["sample", "beam"]


def rollout(
    policy: Policy,
    histories: torch.Tensor,
    n: int,
    *,
    mode: RolloutMode = "sample",
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` items per history ``[B, L]`` -> ``(items [B, n], tokens [B, n, L'])``, every one a
    real item of ``policy.ids`` (``ValueError`` if the catalog cannot fill a beam group)."""
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
