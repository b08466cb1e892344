"""Rewards against hand-computed cases: exact hit, prefix credit, nothing, the format gate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec.rl.rewards import PREFIX_CREDIT, matched_prefix, rewards
from genrec.sid.semantic_ids import SemanticIds

# item: 0 (0,0,0)  1 (0,0,1)  2 (0,1,0)  3 (1,0,0)  4 (0,0,0) shares item 0's ID
CODES = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 0]])
IDS = SemanticIds(CODES, (2, 2, 2))


def test_exact_prefix_and_none() -> None:
    items = torch.tensor([[0, 1, 2, 3, 4]])
    targets = torch.tensor([0])
    assert matched_prefix(IDS, items, targets).tolist() == [[3, 2, 1, 0, 3]]
    got = rewards(IDS, items, targets)
    # the same ID as the target is not the target: full-length credit (c_3), never 1
    want = [[1.0, PREFIX_CREDIT[1], PREFIX_CREDIT[0], 0.0, PREFIX_CREDIT[2]]]
    torch.testing.assert_close(got, torch.tensor(want))


def test_credit_is_configurable_and_longer_prefixes_keep_the_last() -> None:
    items, targets = torch.tensor([[0, 1, 2, 3, 4]]), torch.tensor([0])
    assert rewards(IDS, items, targets, credit=()).tolist() == [[1.0, 0.0, 0.0, 0.0, 0.0]]
    got = rewards(IDS, items, targets, credit=(0.25,))
    assert got.tolist() == [[1.0, 0.25, 0.25, 0.0, 0.25]]


def test_format_gate_zeroes_malformed_outputs() -> None:
    items, targets = torch.tensor([[0, 1], [3, 3]]), torch.tensor([0, 3])
    ok = torch.tensor([[False, True], [True, False]])
    got = rewards(IDS, items, targets, format_ok=ok)
    assert got.tolist() == [[0.0, pytest.approx(PREFIX_CREDIT[1])], [1.0, 0.0]]


def test_a_rollout_must_be_a_real_item() -> None:
    with pytest.raises(ValueError, match="real item"):
        rewards(IDS, torch.tensor([[0, -1]]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        rewards(IDS, torch.tensor([[0]]), torch.tensor([0]), credit=(1.0,))
