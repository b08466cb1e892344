"""Recommendations from a finished run for one user or one history, by the dataset's own ids:
what `genrec recommend` prints, and what the HTTP service will serve (the run loads once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genrec.errors import ConfigError, DataError
from genrec.models.recommender import PAD, pad_histories
from genrec.recipes.evaluate import load_run

#: How many valid ids an unknown-id error shows.
EXAMPLES = 3


@dataclass(frozen=True)
class Item:
    """An item as a user sees it: its id in the dataset and its title (None without one)."""

    item_id: str
    title: str | None


@dataclass(frozen=True)
class Recommendation:
    """One row of a top-k list; ``score`` is the model's own (comparable within the list)."""

    rank: int
    item_id: str
    title: str | None
    score: float


@dataclass(frozen=True)
class Recommendations:
    """The history a list was made for (oldest first) and the list itself (best first)."""

    history: list[Item]
    items: list[Recommendation]


class RunRecommender:
    """A finished run (``load_run``) that answers by user and item ids instead of indices."""

    def __init__(self, path: str | Path) -> None:
        self.recipe, self.dataset, self.split, self.model = load_run(path)
        self.item_ids: list[str] = self.dataset.items["item_id"].to_list()
        self.titles: list[str | None] = self.dataset.items["title"].to_list()
        self.user_ids: list[str] = self.dataset.users["user_id"].to_list()
        self._item_index = {item_id: i for i, item_id in enumerate(self.item_ids)}
        self._user_index = {user_id: u for u, user_id in enumerate(self.user_ids)}

    def user_history(self, user_id: str) -> list[int]:
        """Item indices the model sees for ``user_id``, oldest first: the history of the user's
        test case (the ``max_history`` items before the held-out last one), or the user's
        most recent items when the split gave them no test case."""
        if user_id not in self._user_index:
            raise DataError(
                f"user {user_id!r} is not in dataset {self.dataset.name} "
                f"({len(self.user_ids)} users, e.g. {', '.join(self.user_ids[:EXAMPLES])})"
            )
        user = self._user_index[user_id]
        rows = np.flatnonzero(self.split.test.users == user)
        if len(rows):
            history = self.split.test.histories[rows[0]]
            return history[history != PAD].tolist()
        return self.dataset.sequences()[user][-self.split.max_history :].tolist()

    def item_indices(self, item_ids: Sequence[str]) -> list[int]:
        """The indices of ``item_ids``; an unknown id is an error that names it."""
        unknown = [item_id for item_id in item_ids if item_id not in self._item_index]
        if unknown:
            raise DataError(
                f"item {unknown[0]!r} is not in dataset {self.dataset.name} "
                f"({len(self.item_ids)} items, e.g. {', '.join(self.item_ids[:EXAMPLES])})"
            )
        return [self._item_index[item_id] for item_id in item_ids]

    def recommend(
        self,
        *,
        user: str | None = None,
        history: Sequence[str] | None = None,
        k: int = 10,
        exclude_history: bool | None = None,
    ) -> Recommendations:
        """The top ``k`` items for ``user`` (a user id) or ``history`` (item ids, oldest first;
        the model sees, and the answer lists, the ``max_history`` most recent).
        ``exclude_history`` drops the history from the list (default: the run's
        ``eval.exclude_history``)."""
        if (user is None) == (history is None):
            raise ConfigError("recommend for a user id or for a history of item ids (not both)")
        indices = self.user_history(user) if user is not None else self.item_indices(history)
        if not indices:
            raise ConfigError("the history is empty: give at least one item id")
        indices = indices[-self.split.max_history :]
        if not 1 <= k <= self.model.n_items:
            raise ConfigError(
                f"k={k}: must be between 1 and the catalog size ({self.model.n_items})"
            )
        if exclude_history is None:
            exclude_history = self.recipe.eval.exclude_history
        histories = pad_histories([indices], self.split.max_history)
        with torch.inference_mode():
            top, scores = self.model.recommend(
                histories, k, exclude=histories if exclude_history else None
            )
        ranked = [
            (i, s) for i, s in zip(top[0].tolist(), scores[0].tolist(), strict=True) if i != PAD
        ]
        return Recommendations(
            history=[Item(self.item_ids[i], self.titles[i]) for i in indices],
            items=[
                Recommendation(rank, self.item_ids[i], self.titles[i], score)
                for rank, (i, score) in enumerate(ranked, start=1)
            ],
        )
