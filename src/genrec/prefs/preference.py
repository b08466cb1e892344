"""What a user tells the recommender at request time: statements with a polarity.

A request carries, per user, any number of statements ("fragrance-free sunscreen", "avoid
glitter"). Positive ones say what to look for; negative ones what must not be recommended.
Callers may pass bare strings: their polarity then comes from the lexicon classifier
(``genrec.prefs.polarity``), so "avoid glitter" is negative without being labelled.

A positive statement is ``about`` one of two things, and a model that follows statements must
tell them apart: what the user wants ``next`` (what a user types, "looking for a label maker";
in training, the hindsight statement written from the target) or what their ``history`` shows
(a generator's summary of the items before the step, e.g. the leak-free protocol's). Trained on
both, a model follows the first and treats the second as context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from genrec.errors import DataError
from genrec.prefs.polarity import POLARITIES, Polarity, polarity

#: What a statement describes: the item the user wants next, or the items they had.
About = Literal["next", "history"]
ABOUT: tuple[About, ...] = get_args(About)
#: How a statement vector carries its ``about`` (one more column; 0 marks an empty row).
ABOUT_COLUMN: dict[str, float] = {"next": 1.0, "history": -1.0}


@dataclass(frozen=True)
class Preference:
    """One statement of what a user wants (``positive``) or wants to avoid (``negative``),
    ``about`` the next item (what users type) or their history (a generator's summary)."""

    text: str
    polarity: Polarity = "positive"
    about: About = "next"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise DataError(f"a preference needs non-empty text, got {self.text!r}")
        if self.polarity not in POLARITIES:
            raise DataError(
                f"preference {self.text!r}: polarity must be one of {list(POLARITIES)}, "
                f"got {self.polarity!r}"
            )
        if self.about not in ABOUT:
            raise DataError(
                f"preference {self.text!r}: about must be one of {list(ABOUT)}, got {self.about!r}"
            )


#: What ``Recommender.recommend(preferences=...)`` takes: one entry per user, each a statement
#: or a sequence of statements (a ``Preference``, or bare text whose polarity is classified).
PreferenceInput = Sequence[str | Preference | Sequence[str | Preference] | None]


def as_preferences(preferences: PreferenceInput | None, n_users: int) -> list[list[Preference]]:
    """Normalise a request's preferences to one list of ``Preference`` per user (empty lists
    without ``preferences``); a wrong number of entries is an error naming both counts."""
    if preferences is None:
        return [[] for _ in range(n_users)]
    if isinstance(preferences, str) or len(preferences) != n_users:
        found = "one string" if isinstance(preferences, str) else f"{len(preferences)} entries"
        raise DataError(
            f"preferences: expected one entry per user ({n_users}), got {found}; pass a list "
            "with each user's statements (an empty list for none)"
        )
    users = [_statements(entry) for entry in preferences]
    bare = [
        (u, i) for u, entry in enumerate(users) for i, p in enumerate(entry) if isinstance(p, str)
    ]
    labels = polarity([users[u][i] for u, i in bare]) if bare else []
    for (u, i), label in zip(bare, labels, strict=True):
        users[u][i] = Preference(users[u][i], label)
    return users  # type: ignore[return-value]


def _statements(entry: str | Preference | Sequence[str | Preference] | None) -> list:
    if entry is None:
        return []
    items = [entry] if isinstance(entry, (str, Preference)) else list(entry)
    for item in items:
        if not isinstance(item, (str, Preference)):
            raise DataError(f"preferences: a statement must be text or a Preference, got {item!r}")
        if isinstance(item, str) and not item.strip():
            raise DataError("preferences: a statement must not be empty text")
    return items
