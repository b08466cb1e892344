from __future__ import annotations

import inspect

import numpy as np
import polars as pl
import pytest

from genrec.data.dataset import Dataset
from genrec.errors import DataError
from genrec.prefs.matching import AvoidMatcher, MatchConfig, avoid_matcher, subject
from genrec.text.template import ItemTemplate

from .avoid_helpers import catalog_texts, hashing_matcher
from .conftest import ITEMS, make_rated_dataset


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("avoid strong fragrance", "strong fragrance"),
        ("Avoids matte foundation products", "matte foundation"),
        ("Dislikes glitter polish items after a bad experience", "glitter polish"),
        ("Steers clear of snark tuner", "snark tuner"),
        ("Does not want another night cream", "night cream"),
        ("Is not looking for Hair Care products", "hair care"),
        ("Shows no interest in Skin Care", "skin care"),
        ("nothing with glitter!", "glitter"),
        ("I don't want hair dye", "hair dye"),
        ("without parabens, please", "parabens"),
    ],
)
def test_subject_strips_negation_and_filler(statement, expected):
    assert subject(statement) == expected


def test_a_statement_that_names_nothing_is_an_error():
    matcher = hashing_matcher(catalog_texts(5))
    with pytest.raises(DataError, match="names nothing to avoid"):
        matcher.match(["avoid it"])


def test_word_matching_needs_every_content_word():
    texts = ["glitter nail polish shimmer", "glitter top coat", "matte nail polish", "cream"]
    matcher = hashing_matcher(texts, threshold=1.0)  # by meaning: (almost) nothing
    matched = matcher.word_match(["no glitter", "avoid nail polishes", "Avoids glitter polish"])
    assert matched.tolist() == [
        [True, True, False, False],
        [True, False, True, False],
        [True, False, False, False],
    ]


def test_lower_thresholds_exclude_more_and_words_add_to_meaning():
    matcher = hashing_matcher(catalog_texts(40))
    statements = ["avoid glitter", "no mineral sunscreen", "nothing spicy"]
    strict, loose = matcher.match(statements, 0.8), matcher.match(statements, 0.2)
    assert (strict <= loose).all() and loose.sum() > strict.sum()
    by_meaning = matcher.similarity(statements) >= 0.8
    assert (matcher.match(statements, 0.8) == (by_meaning | matcher.word_match(statements))).all()


def test_excluded_is_the_union_per_user_and_empty_without_statements():
    matcher = hashing_matcher(catalog_texts(30))
    per_user = matcher.excluded([["avoid glitter", "avoid cream"], [], ["avoid glitter"]])
    both = np.flatnonzero(matcher.match(["avoid glitter", "avoid cream"]).any(0))
    assert per_user[0].tolist() == both.tolist()
    assert per_user[1].size == 0
    assert set(per_user[2]) <= set(per_user[0])


def test_the_matcher_cannot_see_users_or_targets():
    params = set(inspect.signature(AvoidMatcher.__init__).parameters)
    assert params == {
        "self",
        "item_texts",
        "item_vectors",
        "encode",
        "threshold",
        "words",
        "kinds",
        "kind_threshold",
    }


def test_matching_depends_on_the_catalog_only(tmp_path):
    # Same items, other users and targets: the real encoder's matches do not change.
    dataset = make_rated_dataset()
    shuffled = {
        "x": [("z1", 1, "bad"), ("n1", 5, "great"), ("h2", 3, "")],
        "y": [(item, 4, "") for item in ITEMS],
    }
    other = make_rated_dataset(shuffled)
    config = MatchConfig(threshold=0.45, template=ItemTemplate(fields=("title", "categories")))
    statements = ["avoid glitter", "Is not looking for Fragrance products", "no sunscreen"]
    first = avoid_matcher(dataset, config, cache_dir=tmp_path).match(statements)
    second = avoid_matcher(other, config, cache_dir=tmp_path).match(statements)
    assert (first == second).all()
    ids = dataset.items["item_id"].to_list()
    named = [sorted(ids[i] for i in np.flatnonzero(row)) for row in first]
    assert {"n1", "n2"} <= set(named[0]) and {"z1", "z2"} <= set(named[1])
    assert {"s1", "s2"} <= set(named[2]) and "m1" not in set().union(*named)


def test_item_words_come_from_the_template_without_labels():
    dataset = make_rated_dataset()
    texts = ItemTemplate(fields=("title", "categories"), labels={"title": "", "categories": ""})
    rendered = texts.render(dataset.items)
    matcher = hashing_matcher(rendered, threshold=1.0)
    # "title" and "categories" are labels, not item words: matching them finds nothing.
    assert not matcher.word_match(["avoid titles", "no categories"]).any()
    assert matcher.word_match(["no perfume"]).sum() == 1
    assert pl.Series(rendered).str.contains("Perfume").sum() == 1


OFFICE = {
    # item_id: title; the kinds a user named in issue 27 and their neighbours
    "t1": "Canon PGI-9 Green Ink Tank (1041B002)",
    "t2": "Canon PGI-5 BK 0628B009 2-Pack Pigment Black Ink Tanks",
    "c1": "HP 564 Ink Cartridge Combo Pack",
    "c2": "Canon CLI-251 BK/CMY 4 PK Value Pack Ink for Canon InkJet Printers",
    "c3": "HP 78 Tri-Color Printer Cartridge (C6578DN)",
    "s1": "Swingline Commercial Desk Stapler, 20 Sheets, Black (44401)",
    "p1": "BIC Round Stic Ballpoint Pens, Medium Point, Blue Ink, 10 Pens",
    "a1": "Scotch Magic Tape, 3/4 x 1000 Inches",
    "b1": "HP Multipurpose Copy Paper, 500 Sheets",
}


def test_avoid_ink_cartridges_takes_ink_tanks_and_packs_and_keeps_the_rest(tmp_path):
    # Issue 27: "avoid ink cartridges" left a Canon ink tank and two ink packs in the list.
    items = pl.DataFrame({"item_id": list(OFFICE), "title": list(OFFICE.values())})
    inter = pl.DataFrame({"user_id": ["u"] * len(OFFICE), "item_id": list(OFFICE)})
    dataset = Dataset.from_frames("office-kinds", inter, items, source={"reader": "test"})
    matcher = avoid_matcher(dataset, MatchConfig(), cache_dir=tmp_path)
    ids = dataset.items["item_id"].to_list()
    [ink, staplers] = matcher.match(["avoid ink cartridges", "no staplers"])
    assert {ids[i] for i in np.flatnonzero(ink)} == {"t1", "t2", "c1", "c2", "c3"}
    assert {ids[i] for i in np.flatnonzero(staplers)} == {"s1"}
