"""Hindsight statements: written from the item itself, worded like what users type."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from genrec.data.dataset import Dataset
from genrec.prefs.catalog import build_catalog
from genrec.prefs.hindsight import hindsight_statements, review_statements, title_phrase
from tests.prefs.conftest import HISTORIES, make_rated_dataset


@pytest.mark.parametrize(
    ("title", "brand", "phrase"),
    [
        (
            "Stanley Bostitch AntiJam Booklet Stapler, 20 Sheet",
            "Stanley",
            "bostitch antijam booklet stapler",
        ),
        ("HP 12C Financial Calculator", "HP", "financial calculator"),
        ("Epson T0971 Ink Cartridge (Black) for WorkForce", "Epson", "ink cartridge"),
        ("Pilot G2 Gel Pens - 12 Pack", None, "pilot gel pens"),
        ("12345 (67)", None, ""),
    ],
)
def test_title_phrase_keeps_the_product_without_brand_numbers_or_details(
    title: str, brand: str | None, phrase: str
) -> None:
    assert title_phrase(title, brand) == phrase


def test_every_item_gets_statements_from_its_own_text(rated_dataset: Dataset) -> None:
    written = hindsight_statements(rated_dataset, build_catalog(rated_dataset))
    assert len(written.offsets) == rated_dataset.n_items + 1
    assert (written.count() > 0).all()
    ids = rated_dataset.items["item_id"].to_list()
    sunscreen = ids.index("s1")
    own = written.texts[written.offsets[sunscreen] : written.offsets[sunscreen + 1]]
    assert any("mineral sunscreen lightweight" in text for text in own)  # fine: its title
    assert any(text.endswith("sunscreen") for text in own)  # coarse: its category leaf
    # deterministic, and another seed may word them differently but says the same things
    again = hindsight_statements(rated_dataset, build_catalog(rated_dataset))
    assert again.texts == written.texts


def test_review_statements_say_what_the_user_bought_the_item_for() -> None:
    dave = [("m1", 4, "Bought it for my sister, she loves it"), ("m3", 5, "")]
    histories = {**HISTORIES, "dave": dave}
    dataset = make_rated_dataset(histories)
    written = review_statements(dataset, build_catalog(dataset))
    assert len(written.offsets) == dataset.n_interactions + 1
    rows = np.flatnonzero(written.count())
    assert len(rows) == 1  # only dave's first review names a use
    row = int(rows[0])
    assert dataset.interactions["review"][row].startswith("Bought it for my sister")
    (text,) = written.texts[written.offsets[row] : written.offsets[row + 1]]
    assert text.endswith("my sister")



def test_review_statements_are_empty_without_reviews(rated_dataset: Dataset) -> None:
    plain = dataclasses.replace(
        rated_dataset, interactions=rated_dataset.interactions.drop("review")
    )
    written = review_statements(plain, build_catalog(plain))
    assert written.texts == [] and len(written.offsets) == plain.n_interactions + 1
