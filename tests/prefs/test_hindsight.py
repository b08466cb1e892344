"""Hindsight statements: written from the item itself, worded like what users type."""

from __future__ import annotations

import pytest

from genrec.data.dataset import Dataset
from genrec.prefs.catalog import build_catalog
from genrec.prefs.hindsight import hindsight_statements, title_phrase


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
