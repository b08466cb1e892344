from __future__ import annotations

import numpy as np

from genrec.data.splits import leave_one_out
from genrec.prefs.steps import all_steps, leave_one_out_steps, window_rows


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
