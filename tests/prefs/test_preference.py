"""Request-time preferences: what Recommender.recommend(preferences=...) accepts."""

from __future__ import annotations

import pytest

from genrec.errors import DataError
from genrec.prefs.preference import Preference, as_preferences


def test_bare_text_gets_its_polarity_and_entries_become_lists() -> None:
    users = as_preferences(
        [
            "fragrance-free sunscreen",
            ["avoid glitter", Preference("matte lipstick")],
            None,
            [],
            Preference("heavy creams", "negative"),
        ],
        5,
    )
    assert users == [
        [Preference("fragrance-free sunscreen", "positive")],
        [Preference("avoid glitter", "negative"), Preference("matte lipstick", "positive")],
        [],
        [],
        [Preference("heavy creams", "negative")],
    ]


def test_no_preferences_is_an_empty_list_per_user() -> None:
    assert as_preferences(None, 3) == [[], [], []]


@pytest.mark.parametrize(
    ("preferences", "message"),
    [
        (["a", "b"], r"one entry per user \(3\), got 2 entries"),
        ("lightweight", "one entry per user.*got one string"),
        ([["ok"], [" "], []], "must not be empty"),
        ([["ok"], [3], []], "must be text or a Preference, got 3"),
    ],
)
def test_malformed_preferences_are_located_errors(preferences, message) -> None:
    with pytest.raises(DataError, match=message):
        as_preferences(preferences, 3)


def test_a_preference_checks_its_fields() -> None:
    with pytest.raises(DataError, match="polarity must be one of"):
        Preference("x", "neutral")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="non-empty text"):
        Preference("")
