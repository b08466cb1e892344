from __future__ import annotations

import numpy as np

from genrec.data.splits import leave_one_out
from genrec.prefs.steps import all_steps, leave_one_out_steps, leave_one_out_test_steps, window_rows


def test_leave_one_out_steps_are_the_split_targets(rated_dataset):
    steps = leave_one_out_steps(rated_dataset)
    split = leave_one_out(rated_dataset)
    seqs = rated_dataset.sequences()
    targets = sorted(
        [(int(u), int(t)) for u, t in zip(split.valid.users, split.valid.targets, strict=True)]
        + [(int(u), int(t)) for u, t in zip(split.test.users, split.test.targets, strict=True)]
    )
    assert (
        sorted((int(u), int(seqs[u][s])) for u, s in zip(steps.users, steps.steps, strict=True))
        == targets
    )
    # dave has two items: the test step only
    assert steps.steps[steps.users == 3].tolist() == [1]


def test_test_steps_are_the_split_test_targets(rated_dataset):
    steps = leave_one_out_test_steps(rated_dataset)
    split = leave_one_out(rated_dataset)
    seqs = rated_dataset.sequences()
    assert steps.users.tolist() == sorted(split.test.users.tolist())
    found = {int(u): int(seqs[u][s]) for u, s in zip(steps.users, steps.steps, strict=True)}
    assert found == {
        int(u): int(t) for u, t in zip(split.test.users, split.test.targets, strict=True)
    }


def test_a_user_sample_keeps_every_step_of_n_users_drawn_by_the_seed(rated_dataset):
    steps = leave_one_out_steps(rated_dataset)  # 4 users, 7 steps
    two = steps.sample_users(2, seed=0)
    assert len(np.unique(two.users)) == 2
    for user in np.unique(two.users):  # both steps of a sampled user, nothing else
        assert two.steps[two.users == user].tolist() == steps.steps[steps.users == user].tolist()
    assert two.users.tolist() == steps.sample_users(2, seed=0).users.tolist()
    draws = {tuple(np.unique(steps.sample_users(2, seed=s).users)) for s in range(20)}
    assert len(draws) > 1  # the seed matters
    assert steps.sample_users(4, seed=0) is steps and steps.sample_users(9, seed=3) is steps


def test_all_steps_cover_every_position_after_the_first(rated_dataset):
    steps = all_steps(rated_dataset)
    lengths = rated_dataset.sequences().lengths
    assert len(steps) == int((lengths - 1).sum())
    assert steps.steps[steps.users == 0].tolist() == list(range(1, lengths[0]))


def test_window_holds_only_items_before_the_step(rated_dataset):
    steps = all_steps(rated_dataset)
    window = window_rows(rated_dataset, steps, 3)
    seqs = rated_dataset.sequences()
    for case, row, recency in window.select("case", "row", "recency").iter_rows():
        user, step = steps.users[case], steps.steps[case]
        assert row == seqs.offsets[user] + step - recency and recency <= min(3, step)
    assert np.bincount(window["case"].to_numpy()).max() == 3
