"""Training windows for models that learn every next item of a sequence in one pass."""

from __future__ import annotations

import numpy as np

from genrec.data.dataset import Sequences

#: Padding value in history / exclude tensors and windows (item indices start at 0): histories
#: are left-padded with it, so the most recent item is always in the last column.
PAD = -1


def next_item_windows(train: Sequences, max_len: int) -> np.ndarray:
    """Cut each training sequence into ``[n_windows, max_len + 1]`` left-padded windows.

    ``window[:, :-1]`` is the input and ``window[:, 1:]`` the next-item target at each step.
    The last window of a user ends at their last training item; earlier windows step back by
    ``max_len`` so every transition is learned exactly once. Users with fewer than two training
    items have no transition and contribute no window. Vectorised, no per-user loop.
    """
    rows = next_item_window_rows(train, max_len)
    return np.where(rows >= 0, train.items[np.clip(rows, 0, None)], PAD).astype(np.int64)


def next_item_window_rows(train: Sequences, max_len: int) -> np.ndarray:
    """The windows of ``next_item_windows`` as rows of ``train.items`` (-1 for padding), so a
    window's items can be traced to their users and positions."""
    lengths = train.lengths
    users = np.flatnonzero(lengths >= 2)
    n = lengths[users]
    per_user = np.ceil((n - 1) / max_len).astype(np.int64)
    user_of = np.repeat(users, per_user)
    # j-th window from the end of each user's sequence
    j = np.arange(per_user.sum()) - np.repeat(np.cumsum(per_user) - per_user, per_user)
    ends = train.offsets[user_of] + lengths[user_of] - j * max_len  # exclusive
    positions = ends[:, None] + np.arange(-(max_len + 1), 0)[None, :]
    inside = positions >= train.offsets[user_of][:, None]
    return np.where(inside, positions, -1).astype(np.int64)


def transition_examples(train: Sequences, max_history: int) -> dict[str, np.ndarray]:
    """Every prefix of every training sequence with its next item (vectorised): one example
    per transition, the form TIGER trains on and RL rolls out from.

    Returns int64 ``{"histories": [N, max_history]`` item indices left-padded with ``PAD``,
    ``"targets": [N]`` items, ``"users": [N]`` user indices, ``"steps": [N]`` the targets'
    positions in their users' sequences, ``"lengths": [N]`` real items per history``}``.
    Users with fewer than two items give none.
    """
    offsets, items = train.offsets, train.items
    lengths = train.lengths
    user_of = np.repeat(np.arange(len(lengths)), lengths)
    target_pos = np.flatnonzero(np.arange(len(items)) - np.repeat(offsets[:-1], lengths) >= 1)
    users = user_of[target_pos]
    cols = target_pos[:, None] + np.arange(-max_history, 0)[None, :]  # [N, H]
    inside = cols >= offsets[users][:, None]
    histories = np.where(inside, items[np.clip(cols, 0, None)], PAD).astype(np.int64)
    return {
        "histories": histories,
        "targets": items[target_pos].astype(np.int64),
        "users": users.astype(np.int64),
        "steps": (target_pos - offsets[users]).astype(np.int64),
        "lengths": (histories != PAD).sum(1),
    }
