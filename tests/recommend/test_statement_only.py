"""The statement-only baseline: the shared Recommender suite, ranking by cosine to the
statements, popularity breaking ties, the history ignored."""

from __future__ import annotations

import numpy as np
import torch

from genrec.data.splits import Split
from genrec.models.recommender import PAD
from genrec.prefs.preference import Preference
from genrec.recommend.statement_only import StatementOnly

from ..models.recommender_suite import RecommenderTests
from ..prefs.encoders import statement_encoder


class TestStatementOnly(RecommenderTests):
    def make_recommender(self, split: Split) -> StatementOnly:
        vectors = np.random.default_rng(0).normal(size=(split.n_items, 8)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        counts = np.bincount(split.train.items, minlength=split.n_items)
        return StatementOnly(vectors, counts, statement_encoder())


# Items 0-3: item 2 is "cream", items 1 and 3 are equally far from it, item 0 is unrelated.
ITEMS = np.array([[0, 1], [0.6, 0.8], [1, 0], [0.6, -0.8]], dtype=np.float32)
COUNTS = np.array([9, 1, 0, 5])  # popularity: 0, 3, 1, 2


def test_statements_rank_by_cosine_and_popularity_breaks_ties() -> None:
    model = StatementOnly(ITEMS, COUNTS, statement_encoder({"cream": [1, 0], "other": [0, 1]}))
    histories = torch.tensor([[0, 1], [PAD, 3], [PAD, PAD]])
    items, scores = model.recommend(histories, 4, preferences=["cream", None, []])
    assert items.tolist() == [[2, 3, 1, 0], [0, 3, 1, 2], [0, 3, 1, 2]]  # 3 before 1: more popular
    assert scores[0, 0] > scores[0, 1] == scores[0, 2]
    # the mean of two statements, negative ones left out; the history never matters
    told = [[Preference("cream"), Preference("other"), Preference("avoid cream", "negative")]]
    both, _ = model.recommend(torch.tensor([[2, 3]]), 2, preferences=told)
    assert both.tolist() == [[1, 0]]  # [0.6, 0.8] is nearest to the mean [0.5, 0.5]


def test_excluded_items_never_come_back() -> None:
    model = StatementOnly(ITEMS, COUNTS, statement_encoder({"cream": [1, 0]}))
    exclude = torch.tensor([[2, PAD], [0, 3]])
    items, _ = model.recommend(torch.tensor([[0], [0]]), 3, ["cream", None], exclude=exclude)
    assert items.tolist() == [[3, 1, 0], [1, 2, PAD]]
    assert model.capabilities.reads_preferences
