"""The protocols that look beyond the case's own step: describes_target (Mender's steering
choice from the whole pool) and category (statements it writes itself), and the registry's
entries."""

from __future__ import annotations

import numpy as np
import polars as pl

from genrec.data.dataset import Dataset
from genrec.prefs.catalog import build_catalog
from genrec.prefs.protocols import PROTOCOLS, protocol
from genrec.prefs.protocols.category import item_names, statements
from genrec.prefs.protocols.describes_target import choose as describes_target
from genrec.prefs.selection import Cases, StepStatements, preferences

from .encoders import statement_encoder


def pool(rows: list[tuple[int, int, int]], vectors: list[list[float]]) -> StepStatements:
    """Statements ``t0, t1, ...`` with ``vectors`` (normalised), written for ``(user, step,
    text)`` ``rows``."""
    unit = np.array(vectors, dtype=np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    frame = pl.DataFrame(
        rows, schema={"user": pl.Int32, "step": pl.Int32, "text": pl.Int64}, orient="row"
    )
    return StepStatements([f"t{i}" for i in range(len(vectors))], unit, frame)


# Nearest to item 0 ([1, 0]) first; t3 was written for users 0 and 2.
POOL = pool(
    [(0, 3, 0), (0, 1, 1), (1, 2, 2), (0, 2, 3), (2, 5, 3), (3, 4, 4), (4, 1, 5)],
    [[1, 0], [0.99, 0.14], [0.95, 0.31], [0.9, 0.44], [0.8, 0.6], [0, 1]],
)
ITEMS = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)


def cases(users: list[int], part: str) -> Cases:
    n = len(users)
    return Cases(np.array(users), np.full(n, 3), np.zeros(n, dtype=np.int64), part)  # type: ignore[arg-type]


def test_describes_target_skips_the_own_users_statements_and_takes_mender_s_rank() -> None:
    # user 0: t0 (its own step) and t1 (its other step) are out; t3 stays (user 2 has it too)
    picked = {
        p: describes_target(POOL, ITEMS, cases([0], p))[0, 0] for p in ("train", "valid", "test")
    }
    assert picked == {"train": 2, "valid": 3, "test": 4}
    # user 1: only t2 is its own; the 3rd nearest of the rest is t3
    assert describes_target(POOL, ITEMS, cases([1], "test")).tolist() == [[3]]


def test_describes_target_breaks_ties_to_the_lower_statement_and_says_when_too_few() -> None:
    twins = pool([(1, 1, 0), (2, 1, 1), (3, 1, 2)], [[0, 1], [1, 0], [1, 0]])
    assert describes_target(twins, ITEMS, cases([0, 0], "train")).tolist() == [[1], [1]]
    assert describes_target(twins, ITEMS, cases([0], "valid")).tolist() == [[2]]
    few = pool([(1, 1, 0), (0, 1, 1)], [[1, 0], [0, 1]])  # user 0's own statement is out
    assert describes_target(few, ITEMS, cases([0], "valid")).tolist() == [[-1]]


def catalog_dataset(categories: bool) -> Dataset:
    """40 items: 0-21 are moisturizers, 22-39 nail polish (or 0-2 say "alpha widget", 3-4
    "beta gadget"); two users."""
    n = 40
    if categories:
        paths = [["Skin Care", "Face", "Moisturizers"]] * 22 + [["Makeup", "Nails", "Polish"]] * 18
        titles = [f"cream {i}" for i in range(n)]
    else:
        paths = [[] for _ in range(n)]
        titles = ["alpha widget"] * 3 + ["beta gadget"] * 2 + [f"zz{i}" for i in range(n - 5)]
    items = pl.DataFrame(
        {"item_id": [f"i{i}" for i in range(n)], "title": titles, "categories": paths}
    )
    seqs = {"u0": [0, 1, 22, 2], "u1": [23, 3]}
    inter = pl.DataFrame(
        [(u, f"i{i}") for u, s in seqs.items() for i in s],
        schema=["user_id", "item_id"],
        orient="row",
    )
    return Dataset.from_frames(
        "cat", inter, items, source={"reader": "test"}, keep_unused_items=True
    )


def test_category_names_the_leaf_shared_by_enough_items_else_the_top_term() -> None:
    names = item_names(build_catalog(catalog_dataset(categories=True)))
    assert names == ["Moisturizers"] * 22 + [None] * 18  # 18 nail polishes are too few (< 20)
    terms = build_catalog(catalog_dataset(categories=False))
    assert item_names(terms, min_items=3)[:6] == ["alpha"] * 3 + [None] * 3  # beta: 2 items


def test_category_writes_a_statement_per_step_and_hands_the_targets_one() -> None:
    dataset = catalog_dataset(categories=True)
    entry = protocol("category")
    written = entry.pool(POOL, dataset, statement_encoder())
    assert written.texts == ["Looking for Moisturizers"] and written.vectors.shape == (1, 8)
    index = {d["item_id"]: d["item"] for d in dataset.items.select("item_id", "item").to_dicts()}
    # u0 at step 3 wants i2 (a moisturizer); at step 2 i22 (nail polish: no statement)
    users = np.array([0, 0, 1])
    steps = np.array([3, 2, 1])
    targets = np.array([index["i2"], index["i22"], index["i3"]])
    chosen = entry.choose(written, ITEMS, Cases(users, steps, targets))
    told = preferences(written, chosen, entry.about)
    assert [[p.text for p in t] for t in told] == [
        ["Looking for Moisturizers"],
        [],
        ["Looking for Moisturizers"],
    ]
    assert told[0][0].about == "next"
    assert statements is entry.write


def test_every_entry_says_what_its_statements_are_about_and_whether_it_sees_the_target() -> None:
    assert {n: (p.about, p.sees_target) for n, p in PROTOCOLS.items()} == {
        "oracle": ("history", True),
        "leak_free": ("history", False),
        "describes_target": ("next", True),
        "category": ("next", True),
    }
    folder = POOL
    assert protocol("leak_free").pool(folder, catalog_dataset(True), statement_encoder()) is folder
