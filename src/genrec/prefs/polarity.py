"""Polarity of statements a generator did not label: negation cues, then VADER's lexicon.

Preference statements are short and often carry no sentiment words at all ("Looks for travel
sizes"), so the default is positive; "avoid", "no", "without", "not", "never" and kin mark a
statement negative even when the rest of it reads as praise ("avoid glossy finishes").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Polarity = Literal["positive", "negative"]
POLARITIES: tuple[Polarity, ...] = ("positive", "negative")

# Whole words (and the contraction n't) that turn a statement into something to avoid.
NEGATION_CUES = re.compile(
    r"\b(?:avoid\w*|no|not|never|without|nothing|none|dislike\w*|hate\w*|steer clear|"
    r"stay away)\b|n't\b",
    re.IGNORECASE,
)
# VADER's own guidance: compound <= -0.05 is negative.
NEGATIVE_BELOW = -0.05


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    # Reads its lexicon file once (~50 ms); cached so every call after the first is cheap.
    return SentimentIntensityAnalyzer()


def sentiment(texts: Sequence[str]) -> list[float]:
    """VADER compound score in [-1, 1] per text (0 for empty text)."""
    analyzer = _analyzer()
    return [analyzer.polarity_scores(t)["compound"] if t else 0.0 for t in texts]


def polarity(texts: Sequence[str]) -> list[Polarity]:
    """``"negative"`` for texts with a negation cue or negative sentiment, else ``"positive"``."""
    scores = sentiment(texts)
    return [
        "negative" if NEGATION_CUES.search(t) or s <= NEGATIVE_BELOW else "positive"
        for t, s in zip(texts, scores, strict=True)
    ]


def sentiment_lexicon() -> dict[str, float]:
    """VADER's lexicon: word -> valence (words that judge rather than describe)."""
    return _analyzer().lexicon
