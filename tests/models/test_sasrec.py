"""SASRec: the shared Recommender suite, plus learning and loss checks."""

from __future__ import annotations

from dataclasses import replace
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
LIGR = replace(SMALL, layer="ligr")


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


class TestSASRecLiGR(RecommenderTests):
    def make_recommender(self, split: Split) -> SASRec:
        torch.manual_seed(0)
        model = SASRec(split.n_items, split.max_history, LIGR)
        return fit(
            model, torch.from_numpy(next_item_windows(split.train, split.max_history)), steps=20
        )


def cycle_windows(n_items: int = 12, max_len: int = 6) -> torch.Tensor:
    """Every user walks 0 -> 1 -> 2 ... (mod n_items): the next item is fully determined."""
    rows = [[(s + j) % n_items for j in range(max_len + 1)] for s in range(n_items)]
    return torch.tensor(rows)


@pytest.mark.parametrize("layer", ["standard", "ligr"])
@pytest.mark.parametrize("loss", ["ce", "sampled"])
def test_learns_a_deterministic_sequence(loss: str, layer: str) -> None:
    torch.manual_seed(0)
    config = SASRecConfig(
        hidden=32, layers=1, heads=2, ff_dim=64, dropout=0.0, loss=loss, negatives=8, layer=layer
    )
    model = SASRec(12, 6, config)
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


def test_the_default_layer_keeps_the_checkpoint_layout_and_seeded_weights() -> None:
    assert SASRecConfig().layer == "standard"
    torch.manual_seed(0)
    default = SASRec(12, 6, SMALL).state_dict()
    torch.manual_seed(0)
    again = SASRec(12, 6, replace(SMALL, layer="standard")).state_dict()
    assert "blocks.0.ff.0.weight" in default  # the GELU block's names, as older checkpoints
    assert all(torch.equal(default[k], again[k]) for k in default)
    ligr = SASRec(12, 6, LIGR).state_dict()
    assert {"blocks.0.gate1.weight", "blocks.0.ff.gate.weight"} <= set(ligr)


def test_ligr_scores_ignore_later_items_and_padding() -> None:
    torch.manual_seed(0)
    model = SASRec(12, 6, LIGR).eval()
    states = model.encode(torch.tensor([[3, 4, 5, 6], [3, 4, 5, 9]]))
    torch.testing.assert_close(states[0, :3], states[1, :3])
    short = model.score(torch.tensor([[3, 4, 5]]))
    torch.testing.assert_close(short, model.score(torch.tensor([[PAD, PAD, 3, 4, 5]])))


@pytest.mark.parametrize(
    ("n_items", "hidden"),
    # negatives x hidden >= n_items: every item scored, then picked; below: rows gathered
    [(50, 16), (500, 4)],
)
def test_sampled_softmax_draws_negatives_for_every_position(n_items: int, hidden: int) -> None:
    torch.manual_seed(0)
    config = SASRecConfig(hidden=hidden, layers=1, heads=1, ff_dim=8, loss="sampled", negatives=8)
    model = SASRec(n_items, 4, config)
    states, targets = torch.randn(6, hidden), torch.tensor([0, 1, 2, 3, 4, 5])
    loss = model.item_loss(states, targets, torch.Generator().manual_seed(3))
    # The reference: each row against its own 8 uniform draws, accidental hits masked out.
    negatives = torch.randint(n_items, (6, 8), generator=torch.Generator().manual_seed(3))
    table = model.item_emb.weight
    neg = torch.einsum("nd,nkd->nk", states, table[negatives + 1])
    neg = neg.masked_fill(negatives == targets[:, None], float("-inf"))
    pos = (states * table[targets + 1]).sum(-1, keepdim=True)
    expected = torch.nn.functional.cross_entropy(torch.cat([pos, neg], 1), torch.zeros(6).long())
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("loss", ["ce", "sampled"])
def test_the_loss_trims_padding_columns_without_changing_its_value(monkeypatch, loss) -> None:
    torch.manual_seed(0)
    model = SASRec(12, 8, replace(LIGR, loss=loss, negatives=4)).eval()
    windows = torch.tensor([[PAD, PAD, 1, 2, 3], [PAD, PAD, PAD, 4, 5]])
    padded = torch.cat([torch.full((2, 4), PAD), windows], dim=1)  # [2, 9]: 4 + 2 more pads
    widths: list[int] = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda x: widths.append(x.shape[1]) or encode(x))
    a = model.loss(windows, torch.Generator().manual_seed(1))
    b = model.loss(padded, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert widths == [2, 2]  # only the columns some row has an item in (inputs: all but last)


def test_scoring_encodes_similar_lengths_together_with_the_same_scores(monkeypatch) -> None:
    torch.manual_seed(0)
    model = SASRec(12, 6, LIGR).eval()
    histories = pad_histories([[1, 2, 3, 4, 5, 6], [7], [], [8, 9], [10], [3, 4, 5, 6, 7]])
    alone = torch.cat([model.score(h[None]) for h in histories])
    monkeypatch.setattr("genrec.models.item_scorer.SCORE_CHUNK", 2)
    widths: list[int] = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda x: widths.append(x.shape[1]) or encode(x))
    torch.testing.assert_close(model.score(histories), alone)
    assert widths == [1, 2, 6]  # lengths (0, 1), (1, 2), (5, 6): sorted, then trimmed
