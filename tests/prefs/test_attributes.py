from __future__ import annotations

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from genrec.prefs.attributes import AttributesConfig, AttributesGenerator
from genrec.prefs.catalog import build_catalog
from genrec.prefs.statements import SCHEMA
from genrec.prefs.steps import Steps, all_steps, leave_one_out_steps

from .conftest import make_rated_dataset


def _generate(dataset, steps=None, **config):
    config.setdefault("min_df", 2)  # the fixture's catalog has 11 items: 3 is a lot
    generator = AttributesGenerator(AttributesConfig(**config))
    return generator.generate(dataset, steps or all_steps(dataset))


def test_statements_never_use_the_target_or_later_items(rated_dataset):
    statements = _generate(rated_dataset).table
    alice = rated_dataset.users["user_id"].to_list().index("alice")
    text = lambda step: " ".join(  # noqa: E731
        statements.filter((pl.col("user") == alice) & (pl.col("step") == step))["text"]
    ).lower()
    # "spice" is only in z1 (alice's step 4) and z2 (step 5): absent before, present after.
    assert all("spice" not in text(step) for step in range(1, 5))
    assert "spice" in text(5)


def test_at_most_five_statements_of_both_polarities_when_ratings_say_so(rated_dataset):
    statements = _generate(rated_dataset, contrast=False).table
    assert dict(statements.schema) == SCHEMA
    per_step = statements.group_by("user", "step").len()["len"]
    assert per_step.max() <= 5 and per_step.min() >= 1
    assert set(statements["polarity"]) == {"positive", "negative"}
    disliked = statements.filter(pl.col("kind") == "disliked")
    assert (disliked["polarity"] == "negative").all()
    # alice rated the glitter polish 1 (step 2): from step 3 on she avoids it.
    alice = rated_dataset.users["user_id"].to_list().index("alice")
    negative = disliked.filter(pl.col("user") == alice)
    assert negative["step"].min() == 3 and "nail polish" in negative["text"][0]


def test_reviews_decide_where_there_is_no_rating(rated_dataset):
    unrated = rated_dataset.interactions.with_columns(rating=pl.lit(None, dtype=pl.Float32))
    dataset = rated_dataset.derive({"step": "drop ratings"}, unrated)
    kinds = _generate(dataset, contrast=False).table["kind"]
    assert {"liked", "disliked"} <= set(kinds)


def test_output_is_deterministic_and_chunking_does_not_matter(rated_dataset):
    steps = leave_one_out_steps(rated_dataset)
    whole = _generate(rated_dataset, steps).table
    again = _generate(rated_dataset, steps).table
    assert_frame_equal(whole, again)
    halves = [_generate(rated_dataset, steps.of_users(users)).table for users in ([0, 1], [2, 3])]
    assert_frame_equal(pl.concat(halves), whole)


def test_brand_only_when_asked(rated_dataset):
    items = rated_dataset.items.with_columns(brand=pl.lit("Lumiere"))
    dataset = type(rated_dataset)._with_manifest(
        "branded", rated_dataset.interactions, items, rated_dataset.users, {}
    )
    assert not any("lumiere" in t.lower() for t in _generate(dataset).table["text"])
    texts = _generate(dataset, include_brand=True).table["text"]
    assert any("Lumiere" in t for t in texts)


def test_steps_without_history_are_counted(rated_dataset):
    steps = Steps(users=np.array([0, 0]), steps=np.array([0, 2]))
    statements = _generate(rated_dataset, steps)
    assert statements.skipped == {"no_history": 1}
    assert set(statements.table["step"]) == {2}


def test_catalog_drops_a_leading_brand_label_and_tells_paths_from_tags(rated_dataset):
    items = rated_dataset.items.with_columns(
        categories=pl.when(pl.col("item_id") == "m1")
        .then(pl.lit(["Glowco", "Skin Care", "Face", "Moisturizers"]))
        .otherwise(pl.col("categories"))
    )
    dataset = type(rated_dataset)._with_manifest(
        "labelled", rated_dataset.interactions, items, rated_dataset.users, {}
    )
    catalog = build_catalog(dataset)
    m1 = dataset.items["item_id"].to_list().index("m1")
    assert catalog.layout == "path"
    assert catalog.item_roots[m1] == ["Skin Care"] and catalog.brand[m1] == "Glowco"
    genres = dataset.items.with_columns(
        categories=pl.Series(
            [["Comedy", "Drama"], ["Action", "Comedy"], ["Action", "Drama"]] * 3
            + [["Drama", "Comedy"], ["Comedy", "Action"]]
        )
    )
    tagged = type(rated_dataset)._with_manifest(
        "tagged", rated_dataset.interactions, genres, rated_dataset.users, {}
    )
    assert build_catalog(tagged).layout == "set"


def test_opinion_words_negations_and_adverbs_never_describe_items(rated_dataset):
    titles = {
        "m1": "good bad ugly western cream",
        "m3": "accurately never perfect western cream",
    }
    items = rated_dataset.items.with_columns(
        title=pl.col("item_id").replace_strict(titles, default=pl.col("title"))
    )
    dataset = type(rated_dataset)._with_manifest(
        "opinions", rated_dataset.interactions, items, rated_dataset.users, {}
    )
    judging = {"good", "bad", "ugly", "perfect", "never", "accurately"}
    terms = set(build_catalog(dataset, max_df=1.0).terms["term"])
    assert "western" in terms and not terms & judging
    generator = AttributesGenerator(AttributesConfig(max_df=1.0, min_df=2))
    catalog = generator._catalog_of(dataset)
    for item in (0, 2):  # m1, m3
        described = generator._describe(catalog, item).split()
        assert described[-1] == "moisturizers" and len(described) == 2
        assert not judging & set(described)


def test_item_mentions_are_the_leaf_and_one_term(rated_dataset):
    generator = AttributesGenerator(AttributesConfig(min_df=2))
    catalog = generator._catalog_of(rated_dataset)
    n1 = rated_dataset.items["item_id"].to_list().index("n1")
    described = generator._describe(catalog, n1)
    assert described.endswith("nail polish") and len(described.split()) == 3


def test_a_catalog_without_categories_or_ratings_still_writes_negatives(rated_dataset):
    # P5 Sports: keyword phrases only. The contrast names a popular term the window lacks.
    items = rated_dataset.items.with_columns(categories=pl.lit([], dtype=pl.List(pl.String)))
    plain = rated_dataset.interactions.drop("rating", "review")
    dataset = type(rated_dataset)._with_manifest("keywords", plain, items, rated_dataset.users, {})
    catalog = build_catalog(dataset)
    assert catalog.roots and catalog.roots[0] in {t for terms in catalog.item_terms for t in terms}
    statements = _generate(dataset).table
    negative = statements.filter(pl.col("polarity") == "negative")
    assert set(negative["kind"]) == {"contrast"}
    steps = statements.select("user", "step").n_unique()
    assert negative.select("user", "step").n_unique() == steps


def _with_titles(dataset, titles: dict[str, str]):
    items = dataset.items.with_columns(
        title=pl.col("item_id").replace_strict(titles, default=pl.col("title"))
    )
    return type(dataset)._with_manifest("titled", dataset.interactions, items, dataset.users, {})


def test_model_numbers_truncated_and_generic_words_are_no_terms(rated_dataset):
    dataset = _with_titles(
        rated_dataset,
        {
            "m1": "hydrating moisturizer gtr210 close",  # a model number, a generic verb
            "m2": "lightweight moisturizer coded moistur",  # cut short, as P5 phrases are
            "m3": "hydrating night moisturizer moistur",
            "s1": "mineral sunscreen gtr210 coded close",
        },
    )
    terms = set(build_catalog(dataset, max_df=1.0).terms["term"])
    assert {"hydrating", "moisturizer", "sunscreen"} <= terms
    assert not terms & {"gtr", "moistur", "close", "coded"}


def test_contrast_subjects_are_ranked_on_training_rows_only():
    # Fragrance is bought by everyone, but only as validation and test targets.
    histories = {u: [("m1", 4, ""), ("h1", 4, ""), ("z1", 4, ""), ("z2", 4, "")] for u in "abc"}
    histories["d"] = [("n1", 4, ""), ("n2", 4, ""), ("m2", 4, ""), ("m3", 4, "")]
    catalog = build_catalog(make_rated_dataset(histories))
    assert catalog.roots == ["Hair Care", "Skin Care", "Makeup"]  # 3, 3, 2 training rows


def test_contrast_never_names_what_the_user_bought_before_the_step():
    # Makeup is the most trained-on subject; "eve" bought it once, before her window.
    bought = [("n1", 4, ""), ("n2", 4, ""), ("h1", 4, ""), ("n1", 4, ""), ("z1", 4, "")]
    histories = dict.fromkeys("abc", bought)
    histories["eve"] = [("n1", 4, ""), ("m1", 4, ""), ("m2", 4, ""), ("m3", 4, ""), ("s1", 4, "")]
    dataset = make_rated_dataset(histories)
    eve = dataset.users["user_id"].to_list().index("eve")
    statements = _generate(dataset, window=1).table.filter(pl.col("kind") == "contrast")
    contrast = statements.filter(pl.col("user") == eve)
    assert contrast.height == 4 and not contrast["text"].str.contains("Makeup").any()
    others = statements.filter(pl.col("user") != eve, pl.col("step") == 1)
    assert others["text"].str.contains("Hair Care|Skin Care").all()  # never Makeup for them
