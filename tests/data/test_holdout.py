"""The RL slice held out of supervised training, against hand-computed sequences."""

from __future__ import annotations

import numpy as np
import pytest

from genrec.data.dataset import Dataset
from genrec.data.holdout import RLHoldout, hold_out
from genrec.data.prepare import DataConfig, make_split
from genrec.data.splits import leave_one_out
from genrec.data.windows import PAD, transition_examples
from genrec.errors import ConfigError

from ..conftest import cycle_dataset
from .test_splits import train_lists

P = PAD


def test_none_leaves_the_split_alone(tiny_dataset: Dataset) -> None:
    split = leave_one_out(tiny_dataset, max_history=3)
    assert hold_out(split, RLHoldout()) is split and split.rl is None


def test_last_transition_by_hand(tiny_dataset: Dataset) -> None:
    # training: u1 a b c | u2 b c | u3 c | u4 a (a..e = 0..4)
    full = leave_one_out(tiny_dataset, max_history=3)
    split = hold_out(full, RLHoldout(slice="last_transition"))
    # users with a transition lose their last training item; u3 and u4 have none to give
    assert train_lists(split) == [[0, 1], [1], [2], [0]]
    assert split.rl is not None
    assert split.rl.users.tolist() == [0, 1]
    assert split.rl.targets.tolist() == [2, 2]
    assert split.rl.histories.tolist() == [[P, 0, 1], [P, P, 1]]
    # validation and test are untouched: their histories still hold the held-out item
    assert split.valid == full.valid and split.test == full.test


def test_users_hold_out_every_transition_of_a_seeded_share() -> None:
    full = leave_one_out(cycle_dataset(n_users=100, n_items=20), max_history=4)
    split = hold_out(full, RLHoldout(slice="users", share=0.2, seed=3))
    assert split.rl is not None
    held = np.unique(split.rl.users)
    assert len(held) == 20 and (split.train.lengths[held] == 0).all()
    others = np.setdiff1d(np.arange(100), held)
    assert (split.train.lengths[others] == full.train.lengths[others]).all()
    # every transition of theirs, none of anyone else's
    theirs = transition_examples(full.train, 4)
    mine = np.isin(theirs["users"], held)
    assert split.rl.targets.tolist() == theirs["targets"][mine].tolist()
    assert split.rl.histories.tolist() == theirs["histories"][mine].tolist()
    again = hold_out(full, RLHoldout(slice="users", share=0.2, seed=3))
    other = hold_out(full, RLHoldout(slice="users", share=0.2, seed=4))
    assert np.array_equal(again.rl.users, split.rl.users)
    assert not np.array_equal(np.unique(other.rl.users), held)


def test_make_split_holds_out_what_the_data_config_names(tiny_dataset: Dataset) -> None:
    config = DataConfig(max_history=3, rl_holdout=RLHoldout(slice="last_transition"))
    split = make_split(tiny_dataset, config)
    assert train_lists(split) == [[0, 1], [1], [2], [0]] and len(split.rl) == 2
    assert make_split(tiny_dataset, DataConfig(max_history=3)).rl is None


def test_an_unknown_slice_is_refused() -> None:
    with pytest.raises(ConfigError, match="slice"):
        RLHoldout(slice="everything")  # type: ignore[arg-type]
