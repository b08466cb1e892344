"""Popularity: the shared Recommender suite plus what is specific to counting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec.data.dataset import Dataset, Sequences
from genrec.data.splits import Split, leave_one_out
from genrec.errors import DataError, NotFittedError
from genrec.models.popularity import Popularity
from genrec.models.recommender import PAD, pad_histories

from .recommender_suite import RecommenderTests


class TestPopularity(RecommenderTests):
    def make_recommender(self, split: Split) -> Popularity:
        return Popularity(split.n_items).fit(split.train)

    def test_scores_are_training_counts(self, model: Popularity, split: Split) -> None:
        counts = np.bincount(split.train.items, minlength=split.n_items)
        items, scores = model.recommend(pad_histories([[0]]), k=split.n_items)
        np.testing.assert_array_equal(scores[0].numpy(), counts[items[0].numpy()])

    def test_history_does_not_matter(self, model: Popularity) -> None:
        items, _ = model.recommend(pad_histories([[0, 1, 2], [9], []]), k=6)
        assert (items == items[0]).all()


def test_tiny_dataset_ranking_and_ties(tiny_dataset: Dataset) -> None:
    # Training part of tiny_dataset: a b c | b c | c | a -> counts a=2, b=2, c=3, d=0, e=0.
    split = leave_one_out(tiny_dataset)
    model = Popularity(split.n_items).fit(split.train)
    items, scores = model.recommend(pad_histories([[3]]), k=5)
    assert items.tolist() == [[2, 0, 1, 3, 4]]  # ties (a/b, d/e) go to the lower index
    assert scores.tolist() == [[3.0, 2.0, 2.0, 0.0, 0.0]]


def test_exclude_is_per_row() -> None:
    model = Popularity(4).fit(Sequences(np.array([0, 6]), np.array([3, 3, 3, 2, 2, 1])))
    exclude = torch.tensor([[3, PAD], [2, 1], [PAD, PAD]])
    items, _ = model.recommend(torch.zeros(3, 1, dtype=torch.long), k=2, exclude=exclude)
    assert items.tolist() == [[2, 1], [3, 0], [3, 2]]


def test_unfitted_raises_and_says_to_fit() -> None:
    with pytest.raises(NotFittedError, match=r"fit\("):
        Popularity(5).recommend(pad_histories([[1]]), k=2)


def test_fit_returns_self_and_rejects_items_outside_catalog() -> None:
    model = Popularity(3)
    assert model.fit(Sequences(np.array([0, 2]), np.array([0, 2]))) is model
    with pytest.raises(DataError, match="n_items"):
        Popularity(3).fit(Sequences(np.array([0, 1]), np.array([3])))


def test_rejects_bad_shapes() -> None:
    model = Popularity(3).fit(Sequences(np.array([0, 1]), np.array([0])))
    with pytest.raises(ValueError, match=r"\[B, L\]"):
        model.recommend(torch.tensor([0, 1]), k=1)
    with pytest.raises(ValueError, match="rows"):
        model.recommend(torch.zeros(2, 1, dtype=torch.long), k=1, exclude=torch.zeros(3, 1))


def test_large_tie_groups_still_go_to_the_lowest_index() -> None:
    # 49 items tie at zero: far more than the top-k candidates, so the exact fallback runs.
    model = Popularity(50).fit(Sequences(np.array([0, 2]), np.array([7, 7])))
    items, _ = model.recommend(pad_histories([[1], [2]]), k=3, exclude=torch.tensor([[0], [8]]))
    assert items.tolist() == [[7, 1, 2], [7, 0, 1]]
