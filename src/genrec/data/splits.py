"""Train / validation / test splits: pure functions of a Dataset.

Leave-one-out (the published protocol): per user, the last item is the test target, the
second to last the validation target, everything before is training. A model sees at most
``max_history`` most recent items before its target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from genrec.data.dataset import Dataset, Sequences
from genrec.data.windows import PAD
from genrec.errors import DataError

#: The split protocols, by the name ``DataConfig.split`` and ``split_by`` take.
SplitName = Literal["leave_one_out", "temporal"]


@dataclass(frozen=True)
class EvalSet:
    """Evaluation cases: user ``users[i]`` with ``histories[i]`` should get ``targets[i]``,
    told ``preferences[i]`` (the case's statements, see ``genrec.prefs.selection``) if given."""

    users: np.ndarray  # [N] int64
    histories: np.ndarray  # [N, max_history] int64, left-padded with PAD
    targets: np.ndarray  # [N] int64
    preferences: Sequence | None = None  # [N] entries of Recommender.recommend(preferences=)

    def __len__(self) -> int:
        return len(self.targets)


@dataclass(frozen=True)
class Split:
    """Training sequences (one per user, chronological) plus validation and test cases, and
    the training transitions held out of ``train`` for RL post-training, if any
    (``genrec.data.holdout``; None: RL rolls out on ``train``'s own transitions)."""

    train: Sequences
    valid: EvalSet
    test: EvalSet
    n_items: int
    max_history: int
    rl: EvalSet | None = None


def split_by(dataset: Dataset, protocol: SplitName, max_history: int = 20) -> Split:
    """The split ``protocol`` names; temporal cutoffs leave the last 10% + 10% for evaluation."""
    if protocol == "temporal":
        valid_start, test_start = temporal_cutoffs(dataset)
        return temporal_split(dataset, valid_start, test_start, max_history)
    return leave_one_out(dataset, max_history)


def training_rows(dataset: Dataset, protocol: SplitName) -> np.ndarray:
    """[n_interactions] bool: which interaction rows are training data under ``protocol``.

    Every split trains on a chronological prefix of each user's sequence (rows are grouped by
    user, oldest first), so a row trains iff its position is below the user's training length.
    """
    seqs = dataset.sequences()
    position = np.arange(len(seqs.items)) - np.repeat(seqs.offsets[:-1], seqs.lengths)
    train_len = split_by(dataset, protocol, max_history=1).train.lengths
    return position < np.repeat(train_len, seqs.lengths)


def leave_one_out(dataset: Dataset, max_history: int = 20) -> Split:
    """Last item -> test, second to last -> validation, the rest -> training.

    Users with two items get a test case only (history = their first item); users with one
    item only contribute training data.
    """
    seqs = dataset.sequences()
    lengths = seqs.lengths
    train_len = np.clip(lengths - 2, a_min=np.minimum(lengths, 1), a_max=None)
    train = truncate(seqs, train_len)
    users = np.arange(len(seqs))
    has_valid = lengths >= 3
    has_test = lengths >= 2
    valid = cases_at(
        seqs, users[has_valid], seqs.offsets[:-1][has_valid] + lengths[has_valid] - 2, max_history
    )
    test = cases_at(seqs, users[has_test], seqs.offsets[1:][has_test] - 1, max_history)
    return Split(train, valid, test, dataset.n_items, max_history)


def temporal_split(
    dataset: Dataset, valid_start: int, test_start: int, max_history: int = 20
) -> Split:
    """Global temporal split at two timestamps (``valid_start <= test_start``).

    Interactions before ``valid_start`` train; each user's first interaction in
    ``[valid_start, test_start)`` is a validation case and first one at or after
    ``test_start`` a test case, each with every earlier item as history.
    """
    if not dataset.has("timestamp"):
        raise DataError(
            f"{dataset.name}: a temporal split needs timestamps, and this dataset has none; "
            "use leave_one_out instead."
        )
    if valid_start > test_start:
        raise DataError(f"valid_start ({valid_start}) must not be after test_start ({test_start})")
    seqs = dataset.sequences()
    ts = dataset.interactions["timestamp"].fill_null(np.iinfo(np.int64).max).to_numpy()
    user_of = np.repeat(np.arange(len(seqs)), seqs.lengths)
    train_len = np.bincount(user_of[ts < valid_start], minlength=len(seqs))
    train = truncate(seqs, train_len)
    valid = _first_in_window(seqs, user_of, ts, valid_start, test_start, max_history)
    test = _first_in_window(seqs, user_of, ts, test_start, np.iinfo(np.int64).max, max_history)
    return Split(train, valid, test, dataset.n_items, max_history)


def temporal_cutoffs(
    dataset: Dataset, valid_frac: float = 0.1, test_frac: float = 0.1
) -> tuple[int, int]:
    """Timestamps leaving the last ``valid_frac`` / ``test_frac`` of interactions for evaluation.

    Counts are rounded to the nearest interaction; interactions tied with a cutoff's
    timestamp all go to the later part (a split cannot cut between equal times).
    """
    if not dataset.has("timestamp"):
        raise DataError(
            f"{dataset.name}: temporal cutoffs need timestamps, and this dataset has none; "
            "use leave_one_out instead."
        )
    if min(valid_frac, test_frac) < 0 or valid_frac + test_frac >= 1:
        raise DataError(
            f"valid_frac ({valid_frac}) and test_frac ({test_frac}) must be >= 0 and sum to "
            "less than 1, so that some interactions are left for training."
        )
    ts = np.sort(dataset.interactions["timestamp"].drop_nulls().to_numpy())
    if len(ts) == 0:
        raise DataError(f"{dataset.name}: every timestamp is null; use leave_one_out instead.")

    def cutoff(frac: float) -> int:
        # The first timestamp of the last round(n * frac) interactions; past the end if none.
        k = int(len(ts) * frac + 0.5)
        return int(ts[len(ts) - k]) if k else int(ts[-1]) + 1

    return cutoff(valid_frac + test_frac), cutoff(test_frac)


def truncate(seqs: Sequences, lengths: np.ndarray) -> Sequences:
    """Keep the first ``lengths[u]`` items of each user's sequence."""
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    position = np.arange(len(seqs.items)) - np.repeat(seqs.offsets[:-1], seqs.lengths)
    keep = position < np.repeat(lengths, seqs.lengths)
    return Sequences(offsets, seqs.items[keep])


def cases_at(
    seqs: Sequences, users: np.ndarray, target_pos: np.ndarray, max_history: int
) -> EvalSet:
    """Cases whose target sits at flat position ``target_pos`` of ``seqs.items`` (the splits,
    the preference benchmark's rated-low items); history = up to ``max_history`` items of the
    same user right before it. Vectorised: no per-user Python loop."""
    starts = seqs.offsets[users]
    cols = np.arange(-max_history, 0)
    pos = target_pos[:, None] + cols[None, :]  # [N, H]
    valid = pos >= starts[:, None]
    histories = np.where(valid, seqs.items[np.clip(pos, 0, None)], PAD)
    return EvalSet(users.astype(np.int64), histories.astype(np.int64), seqs.items[target_pos])


def _first_in_window(
    seqs: Sequences, user_of: np.ndarray, ts: np.ndarray, lo: int, hi: int, max_history: int
) -> EvalSet:
    inside = np.flatnonzero((ts >= lo) & (ts < hi))
    frame = (
        pl.DataFrame({"user": user_of[inside], "pos": inside})
        .group_by("user")
        .agg(pl.col("pos").min())
        .sort("user")
    )
    return cases_at(seqs, frame["user"].to_numpy(), frame["pos"].to_numpy(), max_history)
