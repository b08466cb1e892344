"""Avoid as a guarantee: any Recommender, with the items its users' negative statements name
excluded before it ranks or decodes.

Each request's negative statements go through an ``AvoidMatcher`` (``genrec.prefs.matching``);
the items they match join the request's ``exclude`` rows (``PAD`` layout), which every model
honours exactly: scoring models mask them (``topk_excluding``), generators prune them during
constrained beam search. So an avoided item is never produced, whatever the model learned.
The preferences themselves are passed on unchanged: a model that reads statements still sees
the whole request, and with and without enforcement differ only by the exclusion.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from genrec.errors import DataError
from genrec.models.recommender import PAD, Capabilities, Recommender
from genrec.prefs.matching import AvoidMatcher
from genrec.prefs.preference import PreferenceInput, as_preferences


class Avoiding:
    """``inner`` with negative statements enforced through ``matcher`` (same catalog)."""

    def __init__(self, inner: Recommender, matcher: AvoidMatcher) -> None:
        if inner.n_items != matcher.n_items:
            raise DataError(
                f"avoid: the model ranks {inner.n_items} items but the matcher knows "
                f"{matcher.n_items}; build the matcher from the model's dataset."
            )
        self.inner = inner
        self.matcher = matcher
        self.n_items = inner.n_items

    def excluded(self, preferences: PreferenceInput | None, n_users: int) -> list[np.ndarray]:
        """Per user, the sorted item indices their negative statements exclude."""
        users = as_preferences(_blank_as_none(preferences), n_users)
        negatives = [[p.text for p in user if p.polarity == "negative"] for user in users]
        return self.matcher.excluded(negatives)

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def recommend(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The inner model's top ``k`` with every avoided item excluded (``Recommender``)."""
        avoided = self.excluded(preferences, len(histories))
        return self.inner.recommend(
            histories, k, preferences=preferences, exclude=merge_exclude(exclude, avoided)
        )


def merge_exclude(exclude: torch.Tensor | None, extra: Sequence[np.ndarray]) -> torch.Tensor | None:
    """``exclude [B, E]`` with each row's ``extra`` items appended: ``[B, E + max extra]``,
    ``PAD``-padded (None stays None when there is nothing to add)."""
    width = max((len(items) for items in extra), default=0)
    if width == 0:
        return exclude
    lengths = np.array([len(items) for items in extra])
    rows = np.repeat(np.arange(len(extra)), lengths)
    columns = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    added = torch.full((len(extra), width), PAD, dtype=torch.long)
    added[rows, columns] = torch.as_tensor(np.concatenate(extra), dtype=torch.long)
    if exclude is None:
        return added
    return torch.cat([exclude.to(torch.long).cpu(), added], dim=1).to(exclude.device)


def _blank_as_none(preferences: PreferenceInput | None) -> PreferenceInput | None:
    """A user entry of blank text means the user said nothing (the Recommender suite passes
    ``""`` for such a user); ``as_preferences`` would reject it as an empty statement."""
    if preferences is None or isinstance(preferences, str):
        return preferences
    return [None if isinstance(p, str) and not p.strip() else p for p in preferences]
