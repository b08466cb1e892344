"""HSTU: the shared Recommender suite, plus causality, relative bias and learning checks."""

from __future__ import annotations

import pytest
import torch

from genrec.data.splits import Split
from genrec.data.windows import next_item_windows
from genrec.models.hstu import HSTU, HSTUConfig, RelativePositionBias, relative_buckets
from genrec.models.recommender import PAD, pad_histories

from .recommender_suite import RecommenderTests
from .test_sasrec import cycle_windows, fit

SMALL = HSTUConfig(hidden=16, layers=1, heads=2, dropout=0.1)


class TestHSTU(RecommenderTests):
    def make_recommender(self, split: Split) -> HSTU:
        torch.manual_seed(0)
        model = HSTU(split.n_items, split.max_history, SMALL)
        return fit(
            model, torch.from_numpy(next_item_windows(split.train, split.max_history)), steps=20
        )


def test_causal_a_future_item_changes_no_earlier_output() -> None:
    torch.manual_seed(0)
    model = HSTU(12, 6, HSTUConfig(hidden=16, layers=2, heads=2, dropout=0.0)).eval()
    with torch.no_grad():  # a trained-looking bias, so it takes part in the check
        for layer in model.blocks:
            layer.rab.bias.weight.normal_()
    items = torch.tensor([[PAD, 1, 2, 3, 4, 5]])
    changed = items.clone()
    changed[0, 4] = 9
    before, after = model.encode(items), model.encode(changed)
    torch.testing.assert_close(before[:, :4], after[:, :4])
    assert not torch.allclose(before[:, 4:], after[:, 4:])


def test_relative_bias_shape_and_translation_invariance() -> None:
    bias = RelativePositionBias(heads=3, buckets=8, max_distance=20)
    torch.nn.init.normal_(bias.bias.weight)
    table = bias(7)
    assert table.shape == (3, 7, 7)
    # it depends on the distance i - j only
    torch.testing.assert_close(table[:, 1:, 1:], table[:, :-1, :-1])
    assert not torch.allclose(table[:, 1, 0], table[:, 2, 0])


def test_relative_buckets_exact_near_log_far_clipped() -> None:
    distance = torch.arange(0, 200)
    buckets = relative_buckets(distance, buckets=16, max_distance=64)
    assert buckets[:8].tolist() == list(range(8))  # exact below half of the buckets
    assert (buckets[1:] >= buckets[:-1]).all()  # monotone
    assert buckets.max().item() == 15 and (buckets[64:] == 15).all()
    assert len(buckets[8:64].unique()) == 8  # the far half is shared log-spaced
    # histories shorter than the exact range keep every distance apart
    assert len(relative_buckets(torch.arange(20), 32, 20).unique()) == 20


def test_bias_starts_at_zero_and_is_learned() -> None:
    torch.manual_seed(0)
    model = HSTU(12, 6, HSTUConfig(hidden=16, layers=1, heads=2, dropout=0.0))
    assert not model.blocks[0].rab(6).any()
    fit(model, cycle_windows(), steps=5)
    assert model.blocks[0].rab(6).any()


def test_padding_does_not_change_scores() -> None:
    torch.manual_seed(0)
    model = HSTU(12, 6, SMALL).eval()
    short = model.score(torch.tensor([[3, 4, 5]]))
    padded = model.score(torch.tensor([[PAD, PAD, PAD, 3, 4, 5]]))
    torch.testing.assert_close(short, padded)


@pytest.mark.parametrize("loss", ["ce", "sampled"])
def test_learns_a_deterministic_sequence(loss: str) -> None:
    """Trained on the cycle's windows cut to every length: pointwise attention does not
    normalise over the history, so (unlike softmax attention) a history as short as one item
    must have been seen in training to be read right."""
    windows = cycle_windows()
    cut = torch.arange(windows.shape[1])
    windows = torch.cat([windows.masked_fill(cut < start, PAD) for start in range(6)])
    torch.manual_seed(0)
    config = HSTUConfig(hidden=32, layers=1, heads=2, dropout=0.0, loss=loss, negatives=8)
    model = fit(HSTU(12, 6, config), windows)
    items, _ = model.recommend(pad_histories([[3, 4, 5], [10, 11], [7]]), k=1)
    assert items[:, 0].tolist() == [6, 0, 8]


def test_config_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"HSTUConfig.position_buckets: expected an integer"):
        HSTUConfig(position_buckets=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="divisible"):
        HSTUConfig(hidden=30, heads=4)
