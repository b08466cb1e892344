"""Sentiment following, Mender's way: cases built from the ratings, and the twin statements.

Where a dataset has ratings (``has_ratings``), a case (``rated_low``) is a user's most recent
item rated at most ``max_rating`` (2 of 5 stars) for which the statements hold a negative one
written at a step whose window held that item (the generator read the ``window`` items before
each step); of those, the one nearest to the item's text, so it is about that item and not
another of the window. The request is the history before the item, the item the target; the
positive twin inverts the rule (``positive_twin``: "Avoids glitter nail polish" -> "Looks for
glitter nail polish"). Success: the positive request ranks the item in the top k and the
negative one does not.

Without ratings the benchmark keeps its older construction: a positive statement the protocol
chose and its negative twin (``negative_twin``), with the case's own target.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl

from genrec.data.dataset import Dataset
from genrec.data.splits import EvalSet, cases_at
from genrec.prefs.matching import subject
from genrec.prefs.statements import Statements
from genrec.prefs.vectors import StatementEncoder

#: Stars at or below which a rating says the user disliked the item (Mender's negative reviews).
MAX_RATING = 2.0
#: Items a generator reads before each step when its settings do not say (Mender's 5).
WINDOW = 5
# Positive cues a statement opens with ("Looks for", "Is drawn to", "Rated", ...) and filler
# around its subject; what is left is what the negative twin avoids.
_LEAD = re.compile(
    r"^\s*(?:(?:the\s+)?user\s+)?(?:is\s+|are\s+)?(?:also\s+|often\s+|really\s+|mostly\s+)?"
    r"(?:prefers?|likes?|loved?|loves|enjoys?|wants?|looks?\s+for|seeks?|searche?s?\s+for|"
    r"interested\s+in|drawn\s+to|shops?\s+(?:mostly\s+)?for|keeps?\s+coming\s+back\s+to|"
    r"picks?\s+items\s+described\s+as|responds?\s+well\s+to|rated|was\s+happy\s+with|"
    r"sticks?\s+with|trusts?|values?|appreciates?|favou?rs?)\b\s*",
    re.IGNORECASE,
)
_AROUND = re.compile(
    r"^(?:products?|items?)\s+(?:from|in)\s+(?:the\s+)?|\s+(?:category|items?|products?)\s*$|"
    r"\s+highly\s+and\s+wants\s+more\s+like\s+it\s*$|[.!]+\s*$",
    re.IGNORECASE,
)


def negative_twin(statement: str) -> str:
    """The statement that avoids what ``statement`` looks for: "Looks for warm, bright
    strings" -> "Avoids warm, bright strings" (the whole text when no cue is found)."""
    rest = _AROUND.sub("", _LEAD.sub("", statement, count=1)).strip()
    return f"Avoids {rest or statement.strip()}"


def positive_twin(statement: str) -> str:
    """The statement that looks for what the negative ``statement`` avoids: "Steers clear of
    glitter nail polish" -> "Looks for glitter nail polish" (its ``subject``)."""
    return f"Looks for {subject(statement) or statement.strip()}"


def has_ratings(dataset: Dataset) -> bool:
    """Whether the interactions carry ratings (MovieLens, Amazon review files)."""
    return dataset.has("rating") and dataset.interactions["rating"].null_count() < len(
        dataset.interactions
    )


def generator_window(manifest: dict[str, Any]) -> int:
    """How many items before each step the generator of a statements folder read (its
    ``manifest``): ``window`` (attributes) or ``prompt.window`` (llm, openai)."""
    generator = manifest.get("generator", {})
    return int(generator.get("window") or generator.get("prompt", {}).get("window") or WINDOW)


def rated_low(
    dataset: Dataset,
    statements: Statements,
    users: np.ndarray,
    item_vectors: np.ndarray,
    encoder: StatementEncoder,
    window: int,
    max_history: int,
    max_rating: float = MAX_RATING,
) -> tuple[EvalSet, list[str]]:
    """The cases of ``users`` (at most one each, see the module docstring) and their negative
    statements: ``(cases, texts [M])``, by user. ``item_vectors [n_items, D]``: unit rows in
    the encoder's space."""
    seqs = dataset.sequences()
    flat = np.arange(len(seqs.items))
    low = pl.DataFrame(
        {
            "flat": flat,
            "user": np.repeat(np.arange(len(seqs)), seqs.lengths),
            "pos": flat - np.repeat(seqs.offsets[:-1], seqs.lengths),
            "item": seqs.items,
            "rating": dataset.interactions["rating"].cast(pl.Float64),
        },
        schema_overrides={"user": pl.Int32, "pos": pl.Int32},
    ).filter((pl.col("rating") <= max_rating) & (pl.col("pos") >= 1) & pl.col("user").is_in(users))
    negative = statements.table.filter(pl.col("polarity") == "negative")
    named = [t for t in negative["text"].unique().to_list() if subject(t)]  # a twin says something
    negative = negative.filter(pl.col("text").is_in(named)).select(
        "user", "step", "statement", "text"
    )
    pairs = low.join(negative, on="user").filter(
        (pl.col("step") > pl.col("pos")) & (pl.col("step") <= pl.col("pos") + window)
    )
    texts = pairs["text"].unique().sort().to_list()
    if not texts:
        return cases_at(seqs, np.zeros(0, np.int64), np.zeros(0, np.int64), max_history), []
    index = pl.DataFrame({"text": texts, "index": np.arange(len(texts))})
    pairs = pairs.join(index, on="text")
    vectors = encoder.table(texts)[pairs["index"].to_numpy()]
    score = np.einsum("nd,nd->n", vectors, item_vectors[pairs["item"].to_numpy()])
    best = (
        pairs.with_columns(score=score)
        .sort(
            ["user", "pos", "score", "step", "statement"],
            descending=[False, True, True, False, False],
        )
        .unique("user", keep="first", maintain_order=True)
    )
    cases = cases_at(seqs, best["user"].to_numpy(), best["flat"].to_numpy(), max_history)
    return cases, best["text"].to_list()
