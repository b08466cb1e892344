"""SASRec: the shared Recommender suite, plus learning and loss checks."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pytest
import torch

from genrec.data.splits import Split
from genrec.data.windows import next_item_windows
from genrec.models.item_scorer import ItemScorer
from genrec.models.recommender import PAD, pad_histories
from genrec.models.sasrec import SASRec, SASRecConfig

from .recommender_suite import RecommenderTests

SMALL = SASRecConfig(hidden=16, layers=1, heads=2, ff_dim=32, dropout=0.1)


M = TypeVar("M", bound=ItemScorer)


def fit(model: M, windows: torch.Tensor, steps: int = 150, lr: float = 0.01) -> M:
    """``model`` after ``steps`` full-batch Adam steps on its own loss over ``windows``."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = model.loss(windows)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


class TestSASRec(RecommenderTests):
    def make_recommender(self, split: Split) -> SASRec:
        torch.manual_seed(0)
        model = SASRec(split.n_items, split.max_history, SMALL)
        return fit(
            model, torch.from_numpy(next_item_windows(split.train, split.max_history)), steps=20
        )


def cycle_windows(n_items: int = 12, max_len: int = 6) -> torch.Tensor:
    """Every user walks 0 -> 1 -> 2 ... (mod n_items): the next item is fully determined."""
    rows = [[(s + j) % n_items for j in range(max_len + 1)] for s in range(n_items)]
    return torch.tensor(rows)


@pytest.mark.parametrize("loss", ["ce", "sampled"])
def test_learns_a_deterministic_sequence(loss: str) -> None:
    torch.manual_seed(0)
    model = SASRec(
        12,
        6,
        SASRecConfig(hidden=32, layers=1, heads=2, ff_dim=64, dropout=0.0, loss=loss, negatives=8),
    )
    fit(model, cycle_windows())
    items, _ = model.recommend(pad_histories([[3, 4, 5], [10, 11], [7]]), k=1)
    assert items[:, 0].tolist() == [6, 0, 8]


def test_padding_does_not_change_scores() -> None:
    torch.manual_seed(0)
    model = SASRec(12, 6, SMALL).eval()
    short = model.score(torch.tensor([[3, 4, 5]]))
    padded = model.score(torch.tensor([[PAD, PAD, PAD, 3, 4, 5]]))
    torch.testing.assert_close(short, padded)


def test_loss_ignores_padding_and_is_finite() -> None:
    model = SASRec(12, 4, SMALL)
    windows = torch.tensor([[PAD, PAD, PAD, 1, 2], [PAD, PAD, PAD, PAD, 3]])
    assert torch.isfinite(model.loss(windows[:1]))
    np.testing.assert_allclose(
        model.eval().loss(windows).item(), model.loss(windows[:1]).item(), rtol=1e-5
    )


def test_rejects_heads_not_dividing_hidden() -> None:
    with pytest.raises(ValueError, match="divisible"):
        SASRecConfig(hidden=30, heads=4)


def test_config_built_in_python_checks_types_and_ranges() -> None:
    with pytest.raises(
        ValueError, match=r"SASRecConfig.dropout: expected a number in \[0, 1\), got 2"
    ):
        SASRecConfig(dropout=2)
    # A wrong type is reported, not left to crash the divisibility rule.
    with pytest.raises(ValueError, match="SASRecConfig.hidden: expected an integer, got '64'"):
        SASRecConfig(hidden="64")  # type: ignore[arg-type]
