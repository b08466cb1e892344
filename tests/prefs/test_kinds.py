from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from genrec.prefs.kinds import item_kinds, title_head
from genrec.prefs.matching import AvoidMatcher

from .avoid_helpers import hashing_encode


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Canon PGI-9 Green Ink Tank (1041B002)", ["tank", "ink tank", "green ink tank"]),
        ("HP 61XL CH564WN#140 Tri-Color Ink Cartridge-Black", ["cartridge", "ink cartridge"]),
        # The thing comes first, its qualifiers after the comma: a pen, not ink.
        ("Write Bros. Stick Ballpoint Pens, Medium Point, Blue Ink", ["pens", "ballpoint pens"]),
        ("Brother TN450 Compatible Toner Cartridge for use with HL-2220", ["toner cartridge"]),
        ("Epson 48 Inkjet Cartridge Yellow T048420", ["inkjet cartridge"]),
        ("Toy Story", ["story", "toy story"]),
        ("", []),
        ("12345 (A1B2)", []),
    ],
)
def test_the_title_head_names_the_thing(title, expected):
    assert set(expected) <= set(title_head(title))
    assert all(1 <= len(p.split()) <= 3 for p in title_head(title))


def _items(rows: list[tuple[str | None, list[str] | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"title": [t for t, _ in rows], "categories": [c for _, c in rows]},
        schema={"title": pl.String, "categories": pl.List(pl.String)},
    )


def test_kind_similarity_is_the_best_phrase_and_minus_one_without_any():
    items = _items([("Glitter Polish", ["Makeup", "Nails"]), (None, None), ("Cream", None)])
    kinds = item_kinds(items, hashing_encode)
    assert kinds.n_items == 3 and set(kinds.item.tolist()) == {0, 2}
    assert "makeup" in kinds.phrases and "glitter polish" in kinds.phrases
    found = kinds.similarity(hashing_encode(["glitter polish", "makeup"]))
    assert found.shape == (2, 3)
    assert found[0, 0] == pytest.approx(1.0) and found[1, 0] == pytest.approx(1.0)
    assert found[0, 1] == -1.0 and found[0, 2] < 0.9


def _kind_matcher(rows: list[tuple[str | None, list[str] | None]], kind_threshold: float):
    items = _items(rows)
    texts = [t or "" for t in items["title"].to_list()]
    return AvoidMatcher(
        texts,
        hashing_encode(texts),
        hashing_encode,
        threshold=1.0,  # by meaning: nothing
        words=False,
        kinds=item_kinds(items, hashing_encode),
        kind_threshold=kind_threshold,
    )


def test_a_broader_category_does_not_match_but_the_named_one_does():
    matcher = _kind_matcher(
        [("Lipstick", ["Makeup", "Lips"]), ("Brush Kit", ["Makeup", "Makeup Sets"])], 0.6
    )
    # "makeup" (a parent) is as close as 0.7 to "makeup sets" by the stand-in encoder, yet the
    # lipstick is not excluded: the user named the sets, not all makeup.
    assert matcher.kind_similarity(["avoid makeup"])[0, 0] == pytest.approx(1.0)
    assert matcher.match(["avoid makeup sets"]).tolist() == [[False, True]]
    assert matcher.match(["avoid makeup"]).tolist() == [[True, True]]


def test_kind_matches_count_whatever_the_meaning_threshold():
    matcher = _kind_matcher([("Green Ink Tank (B1)", None), ("Stapler, Black", None)], 0.99)
    assert matcher.fixed_match(["no ink tanks"]).tolist() == [[True, False]]
    assert matcher.match(["no ink tanks"], threshold=1.0).tolist() == [[True, False]]
    np.testing.assert_array_equal(matcher.match(["avoid staplers"]), [[False, True]])
