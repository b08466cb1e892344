"""Item text from training reviews: what it writes, and that it never reads a target's review."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from genrec.data.dataset import Dataset
from genrec.data.prepare import DataConfig, load_dataset, make_split
from genrec.data.preprocess import kcore
from genrec.data.review_text import check_review_text, item_text_from_reviews
from genrec.data.sources.amazon2014 import read_amazon2014
from genrec.data.splits import training_rows
from genrec.errors import DataError


@pytest.fixture()
def folder(fixtures: Path) -> Path:
    return fixtures / "raw" / "amazon2014_reviews"


@pytest.fixture()
def reviews(folder: Path) -> Dataset:
    return read_amazon2014(folder, with_meta=False)


def words_of_items(ds: Dataset) -> set[str]:
    text = " ".join(
        ds.items.select(pl.concat_str("title", "description", separator=" ", ignore_nulls=True))
        .to_series()
        .drop_nulls()
    )
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def texts(ds: Dataset) -> dict[str, tuple[str | None, str | None]]:
    return {r["item_id"]: (r["title"], r["description"]) for r in ds.items.iter_rows(named=True)}


def test_reviews_without_meta_warn_once_and_say_so_in_the_manifest(folder: Path) -> None:
    with pytest.warns(
        UserWarning,
        match=r"no meta_Strings\.json\(\.gz\).*reading the reviews alone.*with_meta=False",
    ):
        ds = read_amazon2014(folder)
    assert ds.manifest["source"]["metadata"] is None
    assert ds.manifest["source"]["items_without_meta"] == ds.n_items == 5
    quiet = read_amazon2014(folder, with_meta=False)  # asked for: no warning (warnings are errors)
    assert quiet.fingerprint == ds.fingerprint


def test_reviews_keep_rating_summary_text_and_day(reviews: Dataset) -> None:
    first = reviews.interactions.row(0, named=True)
    assert first["rating"] == 4.0 and first["timestamp"] == 1400000000 + 86400
    assert first["summary"] == "Quiet overdrive pedal"
    assert first["review"] == "Quiet overdrive pedal\nA warm overdrive pedal, quiet on my board."
    no_summary = reviews.interactions.filter(pl.col("summary").is_null())
    assert no_summary["review"].to_list() == ["Gig bag pockets hold my cables."]
    assert sorted(reviews.interactions["rating"].unique().to_list()) == [1, 2, 3, 4, 5]


def test_item_text_never_reads_a_validation_or_test_review(reviews: Dataset) -> None:
    held_out = reviews.interactions.filter(~pl.Series(training_rows(reviews, "leave_one_out")))
    assert held_out["review"].str.contains("(?i)theremin|kazoo").sum() == 4  # the bait is there
    ds = item_text_from_reviews(reviews)
    words = words_of_items(ds)
    assert "theremin" not in words and "kazoo" not in words  # only in targets' reviews
    assert "ukulele" in words  # as frequent, but in training reviews: the test can see a word
    step = ds.manifest["steps"][-1]
    assert step == {
        "step": "item_text_from_reviews",
        "split": "leave_one_out",
        "max_terms": 10,
        "reviews_read": 7,
        "reviews_held_out": 10,
        "items_filled": 4,
        "items_left_without_text": 1,
    }
    assert texts(ds)["X1"] == (None, None)  # reviewed only as a test target


def test_title_is_the_most_representative_training_summary(reviews: Dataset) -> None:
    text = texts(item_text_from_reviews(reviews))
    assert text["C1"] == ("Ukulele capo that holds", "capo, ukulele, capo clamp, strings")
    assert text["B1"] == ("Padded gig bag", "gig bag, pockets")  # the pair, not "bag, gig"
    assert text["P1"] == ("Quiet overdrive pedal", None)  # its one review has no shared term


def test_temporal_split_reads_its_own_training_reviews(reviews: Dataset) -> None:
    split = make_split(reviews, DataConfig(split="temporal"))
    assert split.train.lengths.sum() == training_rows(reviews, "temporal").sum() == 10
    words = words_of_items(item_text_from_reviews(reviews, "temporal"))
    assert "kazoo" in words  # day 2: training under the temporal cut
    assert "theremin" not in words  # day 3: a temporal validation target


def test_items_with_their_own_text_are_left_alone(reviews: Dataset) -> None:
    items = reviews.items.with_columns(
        title=pl.when(pl.col("item_id") == "C1").then(pl.lit("Kyser capo")).otherwise("title")
    )
    own = Dataset.from_frames(
        "own",
        reviews.interactions.join(reviews.users, on="user").join(
            reviews.items.select("item", "item_id"), on="item"
        ),
        items,
        source={"reader": "test"},
    )
    text = texts(item_text_from_reviews(own))
    assert text["C1"] == ("Kyser capo", None)
    assert text["B1"][0] == "Padded gig bag"


def test_load_dataset_derives_last_and_refuses_another_split(folder: Path, tmp_path: Path) -> None:
    config = DataConfig(format="amazon2014", path=str(folder), options={"with_meta": False})
    ds = load_dataset(config)
    assert [s["step"] for s in ds.manifest["steps"]] == ["item_text_from_reviews"]
    ds.save(tmp_path / "strings")
    prepared = DataConfig(format="genrec", path=str(tmp_path / "strings"))
    assert load_dataset(prepared).manifest == ds.manifest  # derived once, not again
    with pytest.raises(DataError, match=r"leave_one_out split.*data\.split=temporal"):
        load_dataset(DataConfig(format="genrec", path=str(tmp_path / "strings"), split="temporal"))
    off = load_dataset(
        DataConfig(
            format="amazon2014", path=str(folder), options={"with_meta": False}, review_text=False
        )
    )
    assert off.items["title"].null_count() == off.n_items


def test_rows_removed_after_the_text_was_derived_are_refused(reviews: Dataset) -> None:
    derived = kcore(item_text_from_reviews(reviews), 2)  # drops X1's one review
    assert derived.manifest["steps"][-1]["removed_interactions"] > 0
    with pytest.raises(DataError, match=r"kcore removed interactions after the item text"):
        check_review_text(derived, "leave_one_out")


def test_without_reviews_it_says_what_is_missing(reviews: Dataset) -> None:
    bare = Dataset.from_frames(
        "bare",
        pl.DataFrame({"user_id": ["a"], "item_id": ["x"]}),
        pl.DataFrame({"item_id": ["x"]}),
        source={"reader": "test"},
    )
    with pytest.raises(DataError, match="needs a review column"):
        item_text_from_reviews(bare)


@pytest.mark.realdata
def test_real_instruments_reviews(shared_data: Path) -> None:
    folder = shared_data / "amazon2014-instruments"
    ds = load_dataset(
        DataConfig(format="amazon2014", path=str(folder), options={"with_meta": False})
    )
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (1429, 900, 10261)
    assert sorted(ds.interactions["rating"].unique().to_list()) == [1, 2, 3, 4, 5]
    assert ds.interactions["review"].null_count() == 0
    assert (ds.interactions["timestamp"] % 86400 == 0).all()  # day timestamps
    assert ds.manifest["steps"][-1]["items_filled"] > 850
    # Every word of the item text was written in a training review (none only in a target's).
    train = pl.Series(training_rows(ds, "leave_one_out"))
    seen = set(re.findall(r"[a-z0-9]+", " ".join(ds.interactions.filter(train)["review"]).lower()))
    held = set(re.findall(r"[a-z0-9]+", " ".join(ds.interactions.filter(~train)["review"]).lower()))
    only_held = held - seen
    assert len(only_held) > 1000 and not (words_of_items(ds) & only_held)
    assert np.mean(ds.items["title"].is_not_null().to_numpy()) > 0.95
