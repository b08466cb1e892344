"""The slice of the training data kept back from supervised training for RL post-training.

A supervised generator trained to convergence has memorised its training transitions (on
Office its Recall@10 on them is several times its validation Recall@10), so RL rolling out on
those transitions sees its targets ranked near the top already: the rewards say little more
than the cross-entropy that was minimised there. RL needs prompts the start was not fitted on,
and validation (the gate) must stay out of both stages. ``data.rl_holdout`` names such a slice
of the training sequences; ``hold_out`` removes it from the supervised training data and gives
it to RL as its prompts. Both stages read it from here (``genrec.data.prepare.make_split``), so
a supervised run and the RL run started from it cut the same slice by construction, and RL
post-training refuses a start that held out another one (``genrec.recipes.post_train``).

Slices (``RLHoldout.slice``):

- ``none``: nothing is held out; RL rolls out on every training transition (as before).
- ``last_transition``: each user's last training transition (its history and the last
  training item) leaves supervised training; RL rolls out on one prompt per user whose
  training sequence has at least two items. The validation target is the item right after it,
  so an RL prompt is the closest a training case can be to the validation case.
- ``users``: a seeded random ``share`` of the users with a training transition leave
  supervised training altogether; RL rolls out on every transition of theirs.

Validation and test cases are never touched: their histories still hold every earlier item.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from genrec.config import bounded, configclass
from genrec.data.dataset import Sequences
from genrec.data.splits import EvalSet, Split, cases_at, truncate
from genrec.data.windows import transition_examples

#: The named slices ``RLHoldout.slice`` takes.
HoldoutSlice = Literal["none", "last_transition", "users"]


@configclass
class RLHoldout:
    """The training slice kept back for RL (``data.rl_holdout``); see the module docstring."""

    # none (RL on the supervised training transitions), last_transition (each user's last
    # training transition) or users (all transitions of a share of the users).
    slice: HoldoutSlice = "none"
    # slice users only: the share of users (with a training transition) held out; a tenth
    # leaves supervised training almost all of its data.
    share: float = bounded(0.1, gt=0, lt=1)
    # slice users only: which users (its own seed, not train.seed, so that the supervised
    # run and every RL seed hold out the same users).
    seed: int = bounded(0, ge=0, le=2**32 - 1)

    def __str__(self) -> str:
        if self.slice == "users":
            return f"users (share {self.share}, seed {self.seed})"
        return self.slice


def hold_out(split: Split, holdout: RLHoldout) -> Split:
    """``split`` with ``holdout``'s slice removed from ``train`` and given as ``rl`` (one case
    per held-out transition: user, history of up to ``max_history`` items, target). Slice
    ``none`` returns ``split`` unchanged (``rl`` None: RL uses every training transition)."""
    if holdout.slice == "none":
        return split
    train = split.train
    lengths = train.lengths
    if holdout.slice == "last_transition":
        users = np.flatnonzero(lengths >= 2)
        last = train.offsets[users] + lengths[users] - 1
        held = cases_at(train, users, last, split.max_history)
        kept_lengths = lengths.copy()
        kept_lengths[users] -= 1
        return dataclasses.replace(split, train=truncate(train, kept_lengths), rl=held)
    chosen = held_out_users(train, holdout.share, holdout.seed)
    mask = np.zeros(len(lengths), dtype=bool)
    mask[chosen] = True
    theirs = transition_examples(truncate(train, np.where(mask, lengths, 0)), split.max_history)
    held = EvalSet(theirs["users"], theirs["histories"], theirs["targets"])
    return dataclasses.replace(split, train=truncate(train, np.where(mask, 0, lengths)), rl=held)


def held_out_users(train: Sequences, share: float, seed: int) -> np.ndarray:
    """Sorted indices of ``round(share * n)`` users (at least one) drawn with ``seed`` among
    the ``n`` users whose training sequence holds a transition (two items or more)."""
    candidates = np.flatnonzero(train.lengths >= 2)
    if len(candidates) == 0:
        return candidates
    n = min(len(candidates), max(1, round(share * len(candidates))))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, size=n, replace=False))
