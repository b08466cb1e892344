from __future__ import annotations

from genrec.prefs.polarity import polarity


def test_clear_examples():
    positive = ["Looks for fragrance-free moisturizers", "Loves bright colors", "Wants sunscreen"]
    negative = [
        "Avoids heavy creams",
        "Nothing with glitter",
        "Doesn't like strong scents",
        "Never buys travel sizes",
        "Prefers lotions without parfum",
        "Terrible quality, broke after a day",
    ]
    assert polarity(positive) == ["positive"] * len(positive)
    assert polarity(negative) == ["negative"] * len(negative)


def test_cues_are_whole_words():
    assert polarity(["Notebooks and nothingness-themed journals"]) == ["positive"]
    assert polarity([]) == []
