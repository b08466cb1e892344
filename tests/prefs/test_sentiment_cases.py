"""Mender's sentiment cases from ratings: the rated-low item, a negative statement of a window
that held it (the one about it), the history before it; and the two twins."""

from __future__ import annotations

import numpy as np
import polars as pl

from genrec.data.windows import PAD
from genrec.prefs.sentiment_cases import (
    generator_window,
    has_ratings,
    negative_twin,
    positive_twin,
    rated_low,
)
from genrec.prefs.statements import Statements

from .conftest import make_rated_dataset
from .encoders import statement_encoder

HISTORIES = {  # (item, rating, review), oldest first
    "ann": [("m1", 5, ""), ("m2", 4, ""), ("n1", 1, ""), ("m3", 5, ""), ("z1", 4, "")],
    "bob": [("h1", 4, ""), ("h2", 2, ""), ("s1", 5, ""), ("s2", 3, ""), ("m2", 5, "")],
    "cat": [("m1", 1, ""), ("n1", 2, ""), ("s1", 5, ""), ("h1", 2, ""), ("z1", 4, "")],
    "dan": [("m1", 2, ""), ("m3", 5, "")],
}
VECTORS = {
    "Avoids glitter nail polish": [1, 0, 0],
    "Steers clear of hydrating cream": [0, 1, 0],
    "Avoids volumizing shampoo": [0, 0, 1],
}


def test_a_case_is_the_latest_rated_low_item_with_a_negative_statement_about_it() -> None:
    dataset = make_rated_dataset(HISTORIES)
    user = {name: index for index, name in dataset.users.select("user", "user_id").iter_rows()}
    item = {name: index for index, name in dataset.items.select("item", "item_id").iter_rows()}
    rows = [
        (user["ann"], 3, "Steers clear of hydrating cream", "negative"),  # window holds n1
        (user["ann"], 3, "Avoids glitter nail polish", "negative"),  # ... and is about it
        (user["ann"], 4, "Avoids an item", "negative"),  # names nothing: no twin
        (user["bob"], 1, "Avoids volumizing shampoo", "negative"),  # before h2 was rated
        (user["bob"], 4, "Avoids glitter nail polish", "negative"),  # window (2) left h2 behind
        (user["cat"], 2, "Avoids glitter nail polish", "negative"),  # n1, but h1 is later
        (user["cat"], 4, "Avoids volumizing shampoo", "negative"),
        (user["cat"], 4, "Looks for mineral sunscreen", "positive"),
        (user["dan"], 1, "Avoids hydrating cream", "negative"),  # m1 is the first item
    ]
    frame = pl.DataFrame(rows, schema=["user", "step", "text", "polarity"], orient="row")
    statements = Statements.from_rows(dataset, "t", frame.with_columns(kind=pl.lit("t")))
    vectors = np.zeros((dataset.n_items, 3), dtype=np.float32)
    vectors[:, 1] = 1  # every item is "cream" ...
    vectors[[item["n1"], item["h1"]]] = [[1, 0, 0], [0, 0, 1]]  # ... but the two disliked ones
    users = np.array([user[u] for u in ("ann", "bob", "cat", "dan")])
    encoder = statement_encoder(VECTORS)
    cases, texts = rated_low(dataset, statements, users, vectors, encoder, window=2, max_history=3)
    assert cases.users.tolist() == [user["ann"], user["cat"]]
    assert cases.targets.tolist() == [item["n1"], item["h1"]]
    assert texts == ["Avoids glitter nail polish", "Avoids volumizing shampoo"]
    assert cases.histories.tolist() == [
        [PAD, item["m1"], item["m2"]],
        [item["m1"], item["n1"], item["s1"]],
    ]
    only, _ = rated_low(dataset, statements, users[:1], vectors, encoder, 2, 3)
    assert only.users.tolist() == [user["ann"]]
    assert has_ratings(dataset)


def test_the_twins_invert_the_rule_and_the_window_comes_from_the_generator() -> None:
    assert positive_twin("Steers clear of glitter nail polish") == "Looks for glitter nail polish"
    assert positive_twin("Avoids strong fragrance products") == "Looks for strong fragrance"
    assert negative_twin("Looks for warm, bright strings") == "Avoids warm, bright strings"
    assert generator_window({"generator": {"name": "attributes", "window": 3}}) == 3
    assert generator_window({"generator": {"name": "llm", "prompt": {"window": 4}}}) == 4
    assert generator_window({"generator": {"name": "other"}}) == 5
