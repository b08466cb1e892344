"""Statements from what users' reviews say (genrec.prefs.reviews), and that they never leak."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from genrec.data.dataset import Dataset
from genrec.prefs.attributes import AttributesConfig, AttributesGenerator
from genrec.prefs.reviews import read_review
from genrec.prefs.steps import all_steps, leave_one_out_steps

VOCABULARY = {"ukulele", "case", "action", "strings", "banjo", "tone", "gig", "bag"}

# item_id: (title, description); no categories, as on Instruments. Each title is also a
# training review's summary below ("Love it"), as review-derived item text has.
ITEMS = {
    "u1": ("Love it", "ukulele strings aquila nylon soprano"),
    "u2": ("Five stars", "ukulele strings aquila nylon tenor"),
    "c1": ("Solid", "gig bag case padded ukulele"),
    "c2": ("Works fine", "gig bag case padded banjo"),
    "t1": ("Nice", "clip tuner chromatic banjo"),
    "t2": ("Close enough", "clip tuner chromatic ukulele"),
    "b1": ("Loud", "banjo strings steel bright"),
    "b2": ("Meh", "banjo strings steel bright tone"),
}
# user: [(item, rating, summary, review)], oldest first
HISTORIES = {
    "ann": [
        ("u1", 5, "Love it", "Bought these for my ukulele. The action was too high though."),
        ("c1", 4, "Solid", "Good bag but it needs a case pocket. There is a rattle, annoying."),
        ("t1", 5, "Nice", "Works great."),
        ("b1", 5, "Loud", "Fine for my money."),
        ("u2", 4, "Five stars", "Ok."),
    ],
    "ben": [
        ("b1", 2, "Loud", "Way too bright for my banjo."),
        ("t2", 4, "Close enough", "Nice tuner, no hum at all, love it."),
        ("b2", 5, "Meh", "Great tone."),
        ("c2", 3, "Works fine", "Fits."),
    ],
    "cat": [
        ("t2", 4, "Close enough", "Good."),
        ("u2", 5, "Five stars", "Wish it had a gig bag."),
        ("c2", 4, "Works fine", "Fine."),
        ("u1", 5, "Love it", "Great strings."),
    ],
    # Every item once among training rows: rewriting others' last items removes none.
    "dan": [(i, 4, ITEMS[i][0], "Fine.") for i in ITEMS] + [("u1", 4, "Love it", "Ok.")] * 2,
}


def reviewed_dataset(histories: dict = HISTORIES) -> Dataset:
    rows = [(u, i, float(r), s, t) for u, seq in histories.items() for i, r, s, t in seq]
    columns = ["user_id", "item_id", "rating", "summary", "review"]
    inter = pl.DataFrame(rows, schema=columns, orient="row")
    items = pl.DataFrame(
        {
            "item_id": list(ITEMS),
            "title": [t for t, _ in ITEMS.values()],
            "description": [d for _, d in ITEMS.values()],
        }
    )
    return Dataset.from_frames("reviewed", inter, items, source={"reader": "test"})


def _generate(dataset: Dataset, steps=None, **config) -> pl.DataFrame:
    config = {"min_df": 2, "max_df": 1.0, **config}  # an 8-item catalog
    generator = AttributesGenerator(AttributesConfig(**config))
    return generator.generate(dataset, steps or all_steps(dataset)).table


def test_reviews_give_uses_needs_and_complaints():
    text = (
        "Bought these for my ukulele. The action was too high. It needs a case. "
        "There is a constant hum."
    )
    said = {(f.kind, f.values) for f in read_review(text, VOCABULARY)}
    assert said == {
        ("use", (("thing", "ukulele"),)),
        ("need", (("thing", "a case"),)),
        ("complaint", (("subject", "action"), ("quality", "high"))),
        ("complaint", (("problem", "hum"),)),
    }
    assert [f.values for f in read_review("Wish it were longer.", VOCABULARY)] == [
        (("thing", "a longer one"),)
    ]
    assert [f.values for f in read_review("For my son and his banjo", VOCABULARY)] == [
        (("thing", "son"),)
    ]


def test_idioms_and_praise_say_nothing():
    for text in (
        "For my money the best.",  # not a use
        "It needs a little coaxing.",  # no descriptive word
        "Not too much, not too bad.",  # no complaint
        "No hum at all, love it!",  # a problem word in praise
        "Me too.",
    ):
        assert read_review(text, VOCABULARY) == [], text


def test_review_statements_are_worded_like_user_requests():
    statements = _generate(reviewed_dataset())
    ann = statements.filter((pl.col("user") == 0) & (pl.col("step") == 3))
    texts = dict(zip(ann["kind"], ann["text"], strict=False))
    assert texts["use"].endswith("their ukulele")
    assert texts["need"].endswith("a case")  # "pocket" is in no item's text
    # The newest complaint wins: the rattle (item 2) over the action (item 1).
    assert "rattling" in texts["complaint"]
    kinds = statements.select("kind", "polarity").unique()
    assert kinds.filter(pl.col("kind") == "complaint")["polarity"].to_list() == ["negative"]
    assert set(kinds.filter(pl.col("kind").is_in(["use", "need"]))["polarity"]) == {"positive"}
    assert not _generate(reviewed_dataset(), reviews=False)["kind"].is_in(["use", "need"]).any()


def test_summary_titles_and_generic_words_never_become_terms():
    generator = AttributesGenerator(AttributesConfig(min_df=2, max_df=1.0))
    catalog = generator._catalog_of(reviewed_dataset())
    terms = set(catalog.terms["term"])
    assert {"ukulele", "banjo", "nylon"} <= terms
    # "love", "stars", "solid", "close", "enough": words of review summaries used as titles.
    assert not terms & {"love", "five", "stars", "solid", "close", "enough", "loud", "meh"}


def _rewrite_from(dataset: Dataset, from_end: int) -> Dataset:
    """``dataset`` with each user's last ``from_end`` interactions replaced: another item, the
    opposite rating, a review full of findings."""
    position = pl.int_range(pl.len()).over("user")
    length = pl.len().over("user")
    late = position >= length - from_end
    frame = dataset.interactions.with_columns(
        item=pl.when(late).then((pl.col("item") + 3) % dataset.n_items).otherwise("item"),
        rating=pl.when(late).then(6 - pl.col("rating")).otherwise("rating"),
        review=pl.when(late)
        .then(pl.lit("Far too dark for my banjo; it needs a gig bag. Constant buzz, awful."))
        .otherwise("review"),
        summary=pl.when(late).then(pl.lit("Nylon ukulele")).otherwise("summary"),
    )
    return dataset.derive({"step": "rewrite the last interactions"}, frame)


def test_a_step_never_reads_its_target_or_later_interactions():
    """Leak test: rewriting the target and everything after it (items, ratings, reviews,
    summaries) leaves the statements of the validation and test steps as they were."""
    dataset = reviewed_dataset()
    steps = leave_one_out_steps(dataset)
    before = _generate(dataset, steps)
    lengths = dataset.sequences().lengths
    for from_end, offset in ((2, 2), (1, 1)):  # validation: last two rewritten; test: last one
        changed = _rewrite_from(dataset, from_end)
        after = _generate(changed, steps)
        step_of = pl.col("step") == pl.col("user").replace_strict(
            dict(enumerate((lengths - offset).tolist()))
        )
        assert_frame_equal(before.filter(step_of), after.filter(step_of))
    # The test steps read the rewritten validation interactions: the test can see a change.
    assert not before.equals(_generate(_rewrite_from(dataset, 2), steps))
