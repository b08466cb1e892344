"""The ``category`` protocol: "Looking for <the target's category>", a coarse request within
which the history must pick the item.

It writes its own statements instead of choosing among the folder's: for every step of the
dataset, one naming its item's leaf category (``Catalog.leaf``: the last name of an Amazon path,
the rarest genre of a movie), or, on a catalog without categories, the item's most telling term.
Only names at least ``MIN_ITEMS`` items share: the statement then leaves a real choice to the
history, and says nothing that names the item alone. A case whose target has no such name gets
no statement (the benchmark counts those cases apart). The statement is the step's item's, so it
looks at the target: reported beside the leak-free numbers only.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from genrec.data.dataset import Dataset
from genrec.prefs.catalog import Catalog, build_catalog
from genrec.prefs.selection import Cases, StepStatements, step_statements
from genrec.prefs.vectors import StatementEncoder

#: Items that must share a category (or term) before it is named.
MIN_ITEMS = 20


def looking_for(name: str) -> str:
    """The request for ``name``, worded as a user would type it."""
    return f"Looking for {name}"


def item_names(catalog: Catalog, min_items: int = MIN_ITEMS) -> list[str | None]:
    """``[n_items]``: each item's leaf category (its most telling term on a catalog without
    categories), None where fewer than ``min_items`` items share it."""
    if not catalog.categories.is_empty():
        names = list(catalog.leaf)
        shared = pl.Series("name", names, dtype=pl.String).drop_nulls().value_counts(name="n")
    else:
        names = [terms[0] if terms else None for terms in catalog.item_terms]
        shared = catalog.terms.group_by(name="term").agg(n=pl.col("item").n_unique())
    common = set(shared.filter(pl.col("n") >= min_items)["name"].to_list())
    return [name if name in common else None for name in names]


def statements(dataset: Dataset, encoder: StatementEncoder) -> StepStatements:
    """One "Looking for ..." statement per step whose item has a shared name (``item_names``),
    keyed by the step (its ``user`` and position ``step``)."""
    names = item_names(build_catalog(dataset))
    texts = sorted({looking_for(n) for n in names if n is not None})
    index = {text: i for i, text in enumerate(texts)}
    of_item = np.array([-1 if n is None else index[looking_for(n)] for n in names], np.int64)
    seqs = dataset.sequences()
    users = np.repeat(np.arange(len(seqs)), seqs.lengths)
    positions = np.arange(len(seqs.items)) - np.repeat(seqs.offsets[:-1], seqs.lengths)
    text = of_item[seqs.items]
    rows = pl.DataFrame(
        {"user": users[text >= 0], "step": positions[text >= 0], "text": text[text >= 0]},
        schema={"user": pl.Int32, "step": pl.Int32, "text": pl.Int64},
    )
    vectors = encoder.table(texts) if texts else np.zeros((0, encoder.dim), dtype=np.float32)
    return StepStatements(texts, vectors, rows)


def choose(steps: StepStatements, item_vectors: np.ndarray, cases: Cases) -> np.ndarray:
    """The statement written for the case's step (``statements``): ``[N, 1]``, -1 where its
    item has no shared name."""
    return step_statements(steps, cases)
