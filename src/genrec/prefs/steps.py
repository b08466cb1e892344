"""Which steps of a user's history get statements: a pure function of the Dataset.

A step is the index of the target interaction in the user's chronological sequence; statements
written for step ``s`` may only use items ``0 .. s-1``. Leave-one-out evaluation needs the
validation and test targets (the last two positions, as ``genrec.data.splits.leave_one_out``
defines them), the preference benchmark only the test targets (both of its protocols read the
statements of the target's own step); training a statement-conditioned model needs every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from genrec.data.dataset import Dataset
from genrec.errors import ConfigError

StepsName = Literal["leave_one_out", "test", "all"]


@dataclass(frozen=True)
class Steps:
    """Pairs ``(users[i], steps[i])``, sorted by user then step."""

    users: np.ndarray  # [N] int64
    steps: np.ndarray  # [N] int64

    def __len__(self) -> int:
        return len(self.users)

    def of_users(self, users: np.ndarray) -> Steps:
        """The pairs whose user is in ``users``."""
        keep = np.isin(self.users, users)
        return Steps(self.users[keep], self.steps[keep])

    def sample_users(self, n: int, seed: int) -> Steps:
        """The pairs of ``n`` users drawn at random (``seed``) among those with a step; all of
        them when there are no more than ``n``. The draw depends only on the set of users, so
        a slow generator can write a fixed subset and be compared with another on it."""
        users = np.unique(self.users)
        if n >= len(users):
            return self
        return self.of_users(np.random.default_rng(seed).choice(users, size=n, replace=False))


def leave_one_out_steps(dataset: Dataset) -> Steps:
    """The validation (second to last) and test (last) target steps of every user.

    Matches ``leave_one_out``: users with >= 3 items have both, users with 2 items only the
    test step, users with 1 item none.
    """
    lengths = dataset.sequences().lengths
    users = np.arange(len(lengths))
    valid, test = lengths >= 3, lengths >= 2
    pairs_users = np.concatenate([users[valid], users[test]])
    pairs_steps = np.concatenate([lengths[valid] - 2, lengths[test] - 1])
    return _sorted(pairs_users, pairs_steps)


def leave_one_out_test_steps(dataset: Dataset) -> Steps:
    """The test (last) target step of every user with at least 2 items."""
    lengths = dataset.sequences().lengths
    users = np.flatnonzero(lengths >= 2)
    return Steps(users.astype(np.int64), (lengths[users] - 1).astype(np.int64))


def all_steps(dataset: Dataset) -> Steps:
    """Every step with at least one item before it (positions 1 .. n-1 of each user)."""
    lengths = dataset.sequences().lengths
    per_user = np.maximum(lengths - 1, 0)
    users = np.repeat(np.arange(len(lengths)), per_user)
    starts = np.cumsum(per_user) - per_user
    steps = np.arange(per_user.sum()) - np.repeat(starts, per_user) + 1
    return Steps(users.astype(np.int64), steps.astype(np.int64))


def select_steps(dataset: Dataset, name: str) -> Steps:
    """The steps named by the ``steps`` config key."""
    if name == "leave_one_out":
        return leave_one_out_steps(dataset)
    if name == "test":
        return leave_one_out_test_steps(dataset)
    if name == "all":
        return all_steps(dataset)
    raise ConfigError(f"steps: unknown value {name!r}; expected leave_one_out, test or all")


def window_rows(dataset: Dataset, steps: Steps, window: int) -> pl.DataFrame:
    """The items each step may read: the ``window`` interactions right before it.

    One row per (case, item): ``case`` (index into ``steps``), ``row`` (interaction row of
    ``dataset.interactions``), ``item`` and ``recency`` (1 = the item just before the step).
    Positions are computed from the step, so the target and later items can never enter.
    """
    seqs = dataset.sequences()
    recency = np.arange(1, window + 1)
    pos = steps.steps[:, None] - recency[None, :]  # [N, window]
    valid = pos >= 0
    rows = (seqs.offsets[steps.users][:, None] + pos)[valid]
    return pl.DataFrame(
        {
            "case": np.broadcast_to(np.arange(len(steps))[:, None], pos.shape)[valid],
            "row": rows,
            "item": seqs.items[rows],
            "recency": np.broadcast_to(recency[None, :], pos.shape)[valid],
        },
        schema={"case": pl.Int64, "row": pl.Int64, "item": pl.Int32, "recency": pl.Int32},
    )


def _sorted(users: np.ndarray, steps: np.ndarray) -> Steps:
    order = np.lexsort((steps, users))
    return Steps(users[order].astype(np.int64), steps[order].astype(np.int64))
