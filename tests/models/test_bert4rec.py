"""BERT4Rec: the shared Recommender suite, plus Cloze masking, inference and learning checks."""

from __future__ import annotations

import pytest
import torch

from genrec.data.splits import Split
from genrec.data.windows import next_item_windows
from genrec.models.bert4rec import BERT4Rec, BERT4RecConfig, cloze_mask
from genrec.models.recommender import PAD, pad_histories

from .recommender_suite import RecommenderTests
from .test_sasrec import cycle_windows, fit

SMALL = BERT4RecConfig(hidden=16, layers=1, heads=2, ff_dim=32, dropout=0.1)


class TestBERT4Rec(RecommenderTests):
    def make_recommender(self, split: Split) -> BERT4Rec:
        torch.manual_seed(0)
        model = BERT4Rec(split.n_items, split.max_history, SMALL)
        return fit(
            model, torch.from_numpy(next_item_windows(split.train, split.max_history)), steps=20
        )


def left_padded(lengths: list[int], width: int) -> torch.Tensor:
    """``[len(lengths), width]`` bool, True on the last ``n`` columns of each row."""
    return torch.arange(width)[None, :] >= width - torch.tensor(lengths)[:, None]


def test_masking_never_masks_padding() -> None:
    is_item = left_padded([0, 1, 3, 7, 7], width=7)
    generator = torch.Generator().manual_seed(0)
    for prob in (0.05, 0.2, 0.6, 1.0):
        for _ in range(50):
            masked = cloze_mask(is_item, prob, generator)
            assert not (masked & ~is_item).any(), "a padding position was masked"
            # every row with an item hides at least one (its last when the draw hid none)
            assert torch.equal(masked.any(1), is_item.any(1))
    assert torch.equal(cloze_mask(is_item, 1.0), is_item)


def test_mask_rate_follows_mask_prob() -> None:
    is_item = torch.ones(2000, 10, dtype=torch.bool)
    masked = cloze_mask(is_item, 0.2, torch.Generator().manual_seed(0))
    assert 0.19 < masked[:, :-1].float().mean().item() < 0.21


def test_inference_masks_the_last_position() -> None:
    torch.manual_seed(0)
    model = BERT4Rec(12, 6, SMALL).eval()
    histories = pad_histories([[3, 4, 5], [10, 11, 0, 1, 2, 7]], max_len=6)
    inputs = model.cloze_inputs(histories)
    assert inputs.shape == (2, 7)
    assert torch.equal(inputs[:, :-1], histories)
    assert (inputs[:, -1] == model.mask).all() and model.mask == model.n_items
    expected = model.item_scores(model.encode(inputs)[:, -1])
    torch.testing.assert_close(model.score(histories), expected)


def test_attention_is_bidirectional() -> None:
    """Unlike SASRec, an earlier position's state depends on later items."""
    torch.manual_seed(0)
    model = BERT4Rec(12, 6, SMALL).eval()
    first = model.encode(torch.tensor([[1, 2, 3, 12]]))
    changed = model.encode(torch.tensor([[1, 2, 4, 12]]))
    assert not torch.allclose(first[:, :2], changed[:, :2])


def test_padding_does_not_change_scores() -> None:
    torch.manual_seed(0)
    model = BERT4Rec(12, 6, SMALL).eval()
    short = model.score(torch.tensor([[3, 4, 5]]))
    padded = model.score(torch.tensor([[PAD, PAD, PAD, 3, 4, 5]]))
    torch.testing.assert_close(short, padded)


@pytest.mark.parametrize("loss", ["ce", "sampled"])
def test_learns_a_deterministic_sequence(loss: str) -> None:
    torch.manual_seed(0)
    config = BERT4RecConfig(
        hidden=32, layers=1, heads=2, ff_dim=64, dropout=0.0, loss=loss, negatives=8
    )
    model = fit(BERT4Rec(12, 6, config), cycle_windows())
    items, _ = model.recommend(pad_histories([[3, 4, 5], [10, 11], [7]]), k=1)
    assert items[:, 0].tolist() == [6, 0, 8]


def test_mask_token_is_never_recommended() -> None:
    model = BERT4Rec(12, 6, SMALL)
    assert model.score(pad_histories([[1, 2]])).shape == (1, 12)


def test_config_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"BERT4RecConfig.mask_prob: expected a number in \(0, 1"):
        BERT4RecConfig(mask_prob=0)
    with pytest.raises(ValueError, match="divisible"):
        BERT4RecConfig(hidden=30, heads=4)
