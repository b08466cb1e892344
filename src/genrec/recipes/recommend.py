"""Recommendations from a finished run for one user or one history, by the dataset's own ids:
what `genrec recommend` prints, and what the HTTP service will serve (the run loads once).

A request may carry preference statements: positive ones go to the model (which may ignore
them), negative ones ("avoid glitter") are enforced by default: the items they match
(``genrec.prefs.matching``) are excluded, so none of them is listed. The matching settings are
the run's calibration (``avoid.json`` in the run directory, written by `genrec prefs threshold
... out=RUN/avoid.json`) unless given; the encoder and item vectors load on the first avoid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import torch

from genrec.errors import ConfigError, DataError
from genrec.models.recommender import PAD, Reasons, pad_histories
from genrec.prefs.kinds import title_head
from genrec.prefs.matching import MatchConfig, avoid_matcher, content_words
from genrec.prefs.polarity import polarity
from genrec.prefs.preference import Preference
from genrec.prefs.statements import MAX_CHARS
from genrec.prefs.threshold import CALIBRATION, read_calibration
from genrec.recipes.evaluate import load_ensemble, load_run
from genrec.recommend.avoid import Avoiding

#: How many valid ids an unknown-id error shows, and examples an avoid statement's note.
EXAMPLES = 3
#: How far down the closest excluded items ``varied`` looks for examples of other kinds.
SCANNED = 200


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
class Avoided:
    """What one avoid statement excluded: how many catalog items, and the closest few."""

    text: str
    subject: str  # what was matched, the statement without its negation
    n_items: int
    examples: list[Item]


@dataclass(frozen=True)
class Recommendations:
    """The history a list was made for (oldest first), the list itself (best first) and, per
    enforced avoid statement, what it excluded."""

    history: list[Item]
    items: list[Recommendation]
    avoided: list[Avoided] = field(default_factory=list)
    # The chain of reasoning written before the list, as written (models that reason; None
    # otherwise), and whether it used up decode.chain_tokens before the answer (cut off).
    chain: str | None = None
    chain_truncated: bool | None = None


class RunRecommender:
    """A finished run (``load_run``), or several decoded together (``load_ensemble``), that
    answers by user and item ids instead of indices."""

    def __init__(
        self, path: str | Path | Sequence[str | Path], *, match: MatchConfig | None = None
    ) -> None:
        """``path``: a run directory, or a list of generative runs on the same data and IDs
        (an ensemble with the first one's recipe). ``match``: how avoid statements are matched
        (default: the (first) run's ``avoid.json``, else ``MatchConfig()``)."""
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        loaded = load_run(paths[0]) if len(paths) == 1 else load_ensemble(paths)
        self.recipe, self.dataset, self.split, self.model = loaded
        calibration = Path(paths[0]) / CALIBRATION
        if match is None:
            match = read_calibration(calibration)[0] if calibration.is_file() else MatchConfig()
        self.match = match
        self._avoiding: Avoiding | None = None
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

    def find_item(self, item_id: str) -> int | None:
        """The index of ``item_id``, None when the catalog has no such id."""
        return self._item_index.get(item_id)

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
        preferences: Sequence[Preference | str] = (),
        enforce_avoid: bool = True,
    ) -> Recommendations:
        """The top ``k`` items for ``user`` (a user id) or ``history`` (item ids, oldest first;
        the model sees, and the answer lists, the ``max_history`` most recent).
        ``exclude_history`` drops the history from the list (default: the run's
        ``eval.exclude_history``). ``preferences`` go to the model; with ``enforce_avoid`` the
        items the negative ones match are never listed."""
        preferences = [_checked(p) for p in preferences]
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
        negatives = [p.text for p in preferences if p.polarity == "negative"]
        enforce = enforce_avoid and bool(negatives)
        model = self.avoiding if enforce else self.model
        told = [preferences] if preferences else None
        exclude = histories if exclude_history else None
        chain, truncated = None, None
        with torch.inference_mode():
            if not enforce and model.capabilities.mode == "reasoning":  # it offers `reason`
                reasoned = cast(Reasons, model).reason(histories, k, told, exclude)
                top, scores = reasoned.items, reasoned.scores
                chain, truncated = reasoned.chains[0], reasoned.truncated[0]
            else:
                top, scores = model.recommend(histories, k, preferences=told, exclude=exclude)
        ranked = [
            (i, s) for i, s in zip(top[0].tolist(), scores[0].tolist(), strict=True) if i != PAD
        ]
        return Recommendations(
            history=[Item(self.item_ids[i], self.titles[i]) for i in indices],
            items=[
                Recommendation(rank, self.item_ids[i], self.titles[i], score)
                for rank, (i, score) in enumerate(ranked, start=1)
            ],
            avoided=self.explain_avoid(negatives) if enforce else [],
            chain=chain,
            chain_truncated=truncated,
        )

    @property
    def avoiding(self) -> Avoiding:
        """The run's model with avoid enforced (built on first use: it loads the encoder)."""
        if self._avoiding is None:
            self._avoiding = Avoiding(self.model, avoid_matcher(self.dataset, self.match))
        return self._avoiding

    def explain_avoid(self, statements: Sequence[str], examples: int = EXAMPLES) -> list[Avoided]:
        """Per statement: how many items it excludes and ``examples`` of them, the closest to
        the statement first but of different kinds while there are (``varied``)."""
        matcher = self.avoiding.matcher
        matched = matcher.match(statements)
        similarity = matcher.similarity(statements)
        out = []
        for text, subject, row, sims in zip(
            statements, matcher.subjects(statements), matched, similarity, strict=True
        ):
            items = np.flatnonzero(row)
            closest = items[np.argsort(-sims[items], kind="stable")]
            shown = varied(closest, self.titles, examples)
            named = [Item(self.item_ids[i], self.titles[i]) for i in shown]
            out.append(Avoided(text, subject, len(items), named))
        return out


def varied(ranked: np.ndarray, titles: Sequence[str | None], k: int = EXAMPLES) -> list[int]:
    """The first ``k`` of ``ranked``, skipping an item whose title's head noun (``title_head``,
    singular) is one already taken while others are left among the first ``SCANNED``: "HP 564
    Ink Cartridge", "Canon Ink Tank", "Bulk Ink Refill" say more of what an avoid statement
    removed than three sizes of the HP cartridge."""
    taken: list[int] = []
    later: list[int] = []
    kinds: set[str] = set()
    for i in ranked[:SCANNED].tolist():
        kind = " ".join(content_words(" ".join(title_head(titles[i] or "")[:1])))
        (later if kind in kinds else taken).append(i)
        kinds.add(kind)
        if len(taken) == k:
            break
    return (taken + later)[:k]


def _checked(preference: Preference | str) -> Preference:
    """A request's statement, checked at the boundary: text, not empty, not a paragraph."""
    text = preference.text if isinstance(preference, Preference) else preference
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("a preference statement is empty: say what to prefer or avoid")
    if len(text) > MAX_CHARS:
        raise ConfigError(
            f"a preference statement has {len(text)} characters, at most {MAX_CHARS} are read "
            f"({text[:40]!r}...): write one short statement per --prefer / --avoid"
        )
    if isinstance(preference, Preference):
        return preference
    return Preference(text, polarity([text])[0])  # bare text: "avoid glitter" is negative
