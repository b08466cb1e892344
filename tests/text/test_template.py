import json

import polars as pl
import pytest

from genrec.config import load_config
from genrec.errors import ConfigError, DataError
from genrec.text.template import ItemTemplate


@pytest.fixture()
def items() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "title": ["Lip  Balm\n Cherry", "Hose", None, ""],
            "brand": ["Burt's", None, "Acme", "  "],
            "categories": [["Beauty", "Lips", ""], [], None, None],
            "description": ["word " * 100, "short and sweet", None, None],
            "price": [4.5, None, float("nan"), -1.0],
            "attributes": [
                json.dumps({"year": 1999, "features": ["matte", "vegan"], "size": {"ml": 5}}),
                json.dumps({"year": None, "features": []}),
                "not json",
                None,
            ],
        },
        schema_overrides={"categories": pl.List(pl.String)},
    )


def test_default_renders_tiger_fields_and_skips_missing(items):
    assert ItemTemplate().render(items) == [
        "Title: Lip Balm Cherry; Brand: Burt's; Categories: Beauty > Lips; Price: $4.50",
        "Title: Hose",
        "Brand: Acme",
        "Item: d",  # nothing to say: falls back to the id rather than an empty text
    ]
    assert ItemTemplate().has_text(items).tolist() == [True, True, True, False]


def test_price_formatting():
    frame = pl.DataFrame({"price": [0.0, 12.5, 1234.567, 3.999, None]})
    assert ItemTemplate(fields=("price",)).render(frame) == [
        "Price: $0.00",
        "Price: $12.50",
        "Price: $1234.57",
        "Price: $4.00",
        "",  # no item_id column to fall back on
    ]
    template = ItemTemplate(fields=("price",), price_prefix="", price_decimals=0)
    assert template.render(frame)[:3] == ["Price: 0", "Price: 12", "Price: 1235"]


def test_description_truncated_at_word_boundary(items):
    template = ItemTemplate(fields=("description",), max_description_chars=22)
    long, short = template.render(items)[:2]
    assert long == "Description: word word word word…"  # 19 chars kept, never mid-word
    assert short == "Description: short and sweet"
    one_word = pl.DataFrame({"description": ["x" * 50]})
    assert template.render(one_word) == ["Description: " + "x" * 22 + "…"]
    uncut = ItemTemplate(fields=("description",), max_description_chars=None).render(items)[0]
    assert uncut == "Description: " + ("word " * 100).strip()


def test_attributes_labels_and_separators(items):
    template = ItemTemplate(
        fields=("title", "attributes.year", "attributes.features", "attributes.size.ml"),
        labels={"title": "", "attributes.size.ml": "Volume (ml)"},
        separator=" | ",
    )
    assert template.render(items)[:3] == [
        "Lip Balm Cherry | Year: 1999 | Features: matte, vegan | Volume (ml): 5",
        "Hose",  # null year and empty list are skipped
        "Item: c",  # attributes that are not JSON read as missing
    ]


def test_categories_as_plain_strings_and_missing_columns():
    frame = pl.DataFrame({"item_id": ["x"], "title": ["T"], "categories": ["Toys"]})
    assert ItemTemplate(fields=("title", "categories")).render(frame) == [
        "Title: T; Categories: Toys"
    ]
    with pytest.raises(DataError, match=r"missing column\(s\) \['brand', 'price'\]"):
        ItemTemplate().render(frame)


def test_renders_a_dataset_item_table(tiny_dataset):
    assert ItemTemplate().render(tiny_dataset.items) == [f"Title: Item {c}" for c in "ABCDE"]


def test_fingerprint_is_stable_and_tracks_every_setting():
    base = ItemTemplate()
    assert base.fingerprint() == ItemTemplate().fingerprint()
    assert len(base.fingerprint()) == 16
    variants = [
        ItemTemplate(fields=("title", "brand")),
        ItemTemplate(fields=("brand", "title", "categories", "price")),
        ItemTemplate(labels={"title": "Name"}),
        ItemTemplate(separator=" | "),
        ItemTemplate(max_description_chars=100),
        ItemTemplate(price_prefix="€"),
    ]
    prints = {v.fingerprint() for v in variants}
    assert len(prints) == len(variants) and base.fingerprint() not in prints
    assert ItemTemplate(labels={}) == base and hash(ItemTemplate(labels={})) == hash(base)


def test_to_dict_round_trips_through_load_config():
    template = ItemTemplate(fields=("title", "attributes.year"), labels={"title": "Name"})
    record = template.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert load_config(ItemTemplate, record) == template


def test_invalid_templates_report_every_problem():
    with pytest.raises(ConfigError) as err:
        ItemTemplate(fields=("title", "colour", "title", "attributes."), labels={"brand": "B"})
    msg = str(err.value)
    for fragment in ("'colour'", "'attributes.'", "duplicates", "labels: ['brand']"):
        assert fragment in msg
    with pytest.raises(ConfigError, match="max_description_chars"):
        ItemTemplate(max_description_chars=0)
