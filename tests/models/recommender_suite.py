"""The checks every Recommender must pass (LensKit style): subclass, override one hook.

    class TestMyModel(RecommenderTests):
        def make_recommender(self, split: Split) -> Recommender:
            return MyModel(split.n_items, ...).fit(split.train)

The suite builds a small generated split (30 users, 15 items, skewed popularity), calls the
hook once per test class, and checks the protocol of genrec.models.recommender: shapes and
dtypes, range, distinct items, ``k`` at and past the catalog size, ``exclude``, determinism,
batch independence, degenerate histories, preferences, and a full harness run.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from genrec.data.dataset import Dataset
from genrec.data.splits import Split, leave_one_out
from genrec.errors import DataError
from genrec.eval import evaluate
from genrec.models.recommender import PAD, Recommender

N_USERS, N_ITEMS, MAX_HISTORY = 30, 15, 8


def generated_dataset(seed: int = 0) -> Dataset:
    """30 users with 1-9 interactions over 15 items, Zipf-like popularity, fixed seed."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 10, size=N_USERS)
    weights = 1.0 / np.arange(1, N_ITEMS + 1)
    items = rng.choice(N_ITEMS, size=int(lengths.sum()), p=weights / weights.sum())
    users = np.repeat(np.arange(N_USERS), lengths)
    inter = pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in users],
            "item_id": [f"i{i}" for i in items],
            "timestamp": np.arange(len(items)),
        }
    )
    table = pl.DataFrame({"item_id": [f"i{i}" for i in range(N_ITEMS)]})
    return Dataset.from_frames(
        "generated", inter, table, source={"reader": "test"}, keep_unused_items=True
    )


def generated_split(seed: int = 0) -> Split:
    return leave_one_out(generated_dataset(seed), max_history=MAX_HISTORY)


class RecommenderTests:
    """Protocol checks shared by every model; not collected itself (no ``Test`` prefix)."""

    def make_recommender(self, split: Split) -> Recommender:
        """Build and fit the model under test on ``split``. Every subclass overrides this."""
        raise NotImplementedError(f"{type(self).__name__} must override make_recommender")

    # Class-scoped fixtures are classmethods: they run once per class, not per test instance.
    @pytest.fixture(scope="class")
    @classmethod
    def split(cls) -> Split:
        return generated_split()

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, split: Split) -> Recommender:
        return cls().make_recommender(split)

    @pytest.fixture(scope="class")
    @classmethod
    def histories(cls, split: Split) -> torch.Tensor:
        """[B, L] test histories of every shape the split has (long, short, one item)."""
        return torch.as_tensor(split.test.histories)

    # ------------------------------------------------------------------ shape and range
    def test_is_a_recommender(self, model: Recommender, split: Split) -> None:
        assert isinstance(model, Recommender)
        assert model.n_items == split.n_items

    def test_shapes_and_dtypes(self, model: Recommender, histories: torch.Tensor) -> None:
        items, scores = model.recommend(histories, k=5)
        assert items.shape == scores.shape == (len(histories), 5)
        assert items.dtype == torch.long
        assert scores.dtype.is_floating_point

    def test_items_in_range_and_distinct(self, model: Recommender, histories: torch.Tensor) -> None:
        items, _ = model.recommend(histories, k=10)
        assert ((items >= 0) & (items < model.n_items)).all()
        ordered = items.sort(dim=1).values
        assert (ordered[:, 1:] != ordered[:, :-1]).all(), "an item appears twice in a row"

    def test_scores_best_first(self, model: Recommender, histories: torch.Tensor) -> None:
        _, scores = model.recommend(histories, k=10)
        assert (scores[:, :-1] >= scores[:, 1:]).all()

    def test_k_equal_to_catalog_ranks_every_item(
        self, model: Recommender, histories: torch.Tensor
    ) -> None:
        items, _ = model.recommend(histories, k=model.n_items)
        expected = torch.arange(model.n_items).expand(len(histories), -1)
        assert torch.equal(items.sort(dim=1).values, expected)

    def test_k_larger_than_catalog_raises(
        self, model: Recommender, histories: torch.Tensor
    ) -> None:
        with pytest.raises(ValueError, match="k"):
            model.recommend(histories, k=model.n_items + 1)

    # ------------------------------------------------------------------ exclude
    def test_exclude_is_honoured_and_rows_stay_full(
        self, model: Recommender, histories: torch.Tensor
    ) -> None:
        k = model.n_items - MAX_HISTORY  # always fillable: at most MAX_HISTORY are excluded
        items, _ = model.recommend(histories, k=k, exclude=histories)
        assert (items != PAD).all(), "rows must stay full when enough items are left"
        clash = (items[:, :, None] == histories[:, None, :]) & (histories[:, None, :] != PAD)
        assert not clash.any(), "an excluded item was returned"

    def test_all_pad_exclude_changes_nothing(
        self, model: Recommender, histories: torch.Tensor
    ) -> None:
        plain, _ = model.recommend(histories, k=5)
        padded, _ = model.recommend(histories, k=5, exclude=torch.full_like(histories, PAD))
        assert torch.equal(plain, padded)

    def test_exclude_leaving_too_few_items_ends_rows_in_pad(
        self, model: Recommender, histories: torch.Tensor
    ) -> None:
        keep = torch.tensor([2, 7])
        banned = torch.tensor([i for i in range(model.n_items) if i not in keep.tolist()])
        exclude = banned.expand(len(histories), -1)
        items, _ = model.recommend(histories, k=4, exclude=exclude)
        assert torch.equal(items[:, 2:], torch.full((len(histories), 2), PAD))
        assert torch.equal(items[:, :2].sort(dim=1).values, keep.expand(len(histories), -1))

    # ------------------------------------------------------------------ determinism, batching
    def test_deterministic(self, model: Recommender, histories: torch.Tensor) -> None:
        first = model.recommend(histories, k=10)
        second = model.recommend(histories, k=10)
        assert torch.equal(first[0], second[0])
        assert torch.equal(first[1], second[1])

    def test_rows_are_independent_of_the_batch(
        self, model: Recommender, histories: torch.Tensor
    ) -> None:
        items, scores = model.recommend(histories, k=10)
        for row in (0, len(histories) // 2, len(histories) - 1):
            alone_items, alone_scores = model.recommend(histories[row : row + 1], k=10)
            assert torch.equal(alone_items[0], items[row])
            torch.testing.assert_close(alone_scores[0], scores[row], atol=1e-5, rtol=1e-5)

    # ------------------------------------------------------------------ degenerate inputs
    def test_one_item_histories(self, model: Recommender) -> None:
        histories = torch.full((3, MAX_HISTORY), PAD, dtype=torch.long)
        histories[:, -1] = torch.tensor([0, 5, model.n_items - 1])
        items, _ = model.recommend(histories, k=5)
        assert items.shape == (3, 5)
        assert ((items >= 0) & (items < model.n_items)).all()

    def test_all_pad_histories(self, model: Recommender) -> None:
        histories = torch.full((2, MAX_HISTORY), PAD, dtype=torch.long)
        items, scores = model.recommend(histories, k=5)
        assert items.shape == (2, 5)
        assert ((items >= 0) & (items < model.n_items)).all()
        assert torch.isfinite(scores).all()

    def test_preferences_none_or_strings(self, model: Recommender, histories: torch.Tensor) -> None:
        batch = histories[:3]
        none_items, _ = model.recommend(batch, k=5, preferences=None)
        prefs = ["likes gentle cleansers", "avoids strong fragrance", None]
        pref_items, _ = model.recommend(batch, k=5, preferences=prefs)
        assert none_items.shape == pref_items.shape == (3, 5)
        if model.capabilities.reads_preferences:  # it reads them: empty text is a mistake
            with pytest.raises(DataError, match="empty"):
                model.recommend(batch, k=5, preferences=["a", "b", " "])
        else:  # it ignores them, whatever they say
            ignored, _ = model.recommend(batch, k=5, preferences=["a", "b", ""])
            assert torch.equal(ignored, none_items)

    # ------------------------------------------------------------------ the harness
    def test_passes_the_harness(self, model: Recommender, split: Split) -> None:
        for exclude_history in (False, True):
            result = evaluate(
                model, split.test, ks=(1, 5), exclude_history=exclude_history, progress=False
            )
            assert result.n_users == len(split.test)
            assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
