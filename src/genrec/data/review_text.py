"""Item text from reviews, for catalogs without metadata (e.g. Amazon reviews read alone).

What reviewers write says what an item is, so an item with neither title nor description gets:
- ``description``: its most salient terms, most salient first: TF-IDF of the words and
  adjacent word pairs of its reviews against all items' reviews (English stop words and words
  about the purchase rather than the item out; a term must occur in at least two reviews, which
  drops typos and one-off words);
- ``title``: its most representative review summary, the one whose terms weigh most in the
  item's TF-IDF vector ("Kyser capo holds the strings well" beats "Five Stars"); without a
  ``summary`` column, its three most salient terms.
Both land in the item table's own text columns, so templates, the sentence encoder, semantic
IDs and the preference generators read them like any other item text.

Leak-free by construction: only reviews that are *training* interactions of the split in use
are read, never the review of a validation or test target (``splits.training_rows``). The step
records its split; ``check_review_text`` refuses to use such text with another split or after
a later step removed interactions (a removed row can make a read review a new target).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from genrec.data.dataset import Dataset
from genrec.data.splits import SplitName, training_rows
from genrec.errors import DataError

STEP = "item_text_from_reviews"
# Words of two letters or more; digits inside are kept ("sm57", "9v"), bare numbers are not.
TOKEN = re.compile(r"\b[a-z][a-z0-9]+\b")
# What reviewers say about buying and liking, not about the item; and contraction stems
# ("didn't" -> "didn"), which sklearn's English list lacks.
REVIEW_WORDS = frozenset(
    [
        "bought",
        "buy",
        "buying",
        "purchase",
        "purchased",
        "product",
        "products",
        "item",
        "items",
        "order",
        "ordered",
        "price",
        "stars",
        "star",
        "recommend",
        "recommended",
        "good",
        "great",
        "nice",
        "excellent",
        "awesome",
        "perfect",
        "love",
        "loved",
        "like",
        "liked",
        "best",
        "better",
        "really",
        "just",
        "use",
        "used",
        "using",
        "uses",
        "work",
        "works",
        "worked",
        "working",
        "didn",
        "doesn",
        "don",
        "isn",
        "wasn",
        "won",
        "couldn",
        "wouldn",
        "shouldn",
        "aren",
        "ve",
        "ll",
        "amazon",
    ]
)


def item_text_from_reviews(
    dataset: Dataset, split: SplitName = "leave_one_out", *, max_terms: int = 10
) -> Dataset:
    """Fill the title and description of items that have neither, from training reviews.

    ``split`` is the protocol the dataset will be evaluated with: its validation and test
    interactions are never read. Items with text of their own are left as they are; items
    whose every review is an evaluation target stay without text (counted in the step).
    """
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    if not dataset.has("review"):
        raise DataError(
            f"{dataset.name}: item text from reviews needs a review column, and the "
            f"interactions have only {dataset.interactions.columns}."
        )
    done = [s for s in dataset.manifest.get("steps", []) if s.get("step") == STEP]
    items = dataset.items
    empty = items["title"].is_null() & items["description"].is_null()
    if any(s["split"] == split for s in done) or not empty.any():
        return dataset  # derived already (what is left has no training review), or not needed
    frame = dataset.interactions.with_columns(train=pl.Series(training_rows(dataset, split)))
    reviews = frame.filter(pl.col("train") & pl.col("review").is_not_null())

    words = CountVectorizer(analyzer=_terms, min_df=2)
    counts = words.fit_transform(reviews["review"].to_list())  # [R, V]
    rows = reviews["item"].to_numpy()
    # [n_items, R] @ [R, V]: each item's term counts over its training reviews.
    owner = sp.csr_matrix(
        (np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(dataset.n_items, len(rows))
    )
    weights = TfidfTransformer(sublinear_tf=True).fit_transform(owner @ counts).tocsr()
    vocabulary = words.get_feature_names_out()

    fill = np.flatnonzero(empty.to_numpy())
    terms = {int(i): _top_terms(weights, int(i), vocabulary, max_terms) for i in fill}
    titles = _titles(reviews, words, weights) if "summary" in reviews.columns else {}
    filled = pl.DataFrame(
        {
            "item": pl.Series(fill, dtype=pl.Int32),
            "_title": [titles.get(int(i)) or ", ".join(terms[int(i)][:3]) or None for i in fill],
            "_description": [", ".join(terms[int(i)]) or None for i in fill],
        }
    )
    items = (
        items.join(filled, on="item", how="left", maintain_order="left")
        .with_columns(
            title=pl.coalesce("title", "_title"),
            description=pl.coalesce("description", "_description"),
        )
        .drop("_title", "_description")
    )
    got_text = filled["_title"].is_not_null() | filled["_description"].is_not_null()
    step = {
        "step": STEP,
        "split": split,
        "max_terms": max_terms,
        "reviews_read": reviews.height,
        "reviews_held_out": int((~frame["train"]).sum()),
        "items_filled": int(got_text.sum()),
        # Every review of these was a validation or test target (or said nothing in words).
        "items_left_without_text": int((~got_text).sum()),
    }
    return dataset.with_items(step, items)


def check_review_text(dataset: Dataset, split: SplitName) -> None:
    """Refuse item text derived from reviews for another split, or before rows were removed."""
    steps: list[dict[str, Any]] = dataset.manifest.get("steps", [])
    derived = [i for i, s in enumerate(steps) if s.get("step") == STEP]
    if not derived:
        return
    other = {steps[i]["split"] for i in derived} - {split}
    if other:
        (used,) = other
        raise DataError(
            f"{dataset.name}: its item text was derived from the training reviews of a {used} "
            f"split, which include evaluation targets of a {split} split; read the raw reviews "
            f"with data.split={split} (the text is then derived for it), or use "
            f"data.split={used}."
        )
    later = [s["step"] for s in steps[derived[0] + 1 :] if s.get("removed_interactions")]
    if later:
        raise DataError(
            f"{dataset.name}: {', '.join(later)} removed interactions after the item text was "
            "derived from training reviews, so a review that was read may now be a validation "
            "or test target; derive the text last (load_dataset does), from the raw reviews."
        )


def _terms(text: str) -> list[str]:
    """Words and adjacent word pairs of ``text`` that are neither stop nor review words."""
    stop = _stop_words()
    tokens = TOKEN.findall(text.lower())
    keep = [t not in stop for t in tokens]
    pairs = [
        f"{a} {b}"
        for a, b, ka, kb in zip(tokens, tokens[1:], keep, keep[1:], strict=False)
        if ka and kb
    ]
    return [t for t, k in zip(tokens, keep, strict=True) if k] + pairs


@cache
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return ENGLISH_STOP_WORDS | REVIEW_WORDS


def _top_terms(weights: sp.csr_matrix, item: int, vocabulary: np.ndarray, k: int) -> list[str]:
    """The item's ``k`` heaviest terms, skipping a term whose words are all listed already."""
    start, end = weights.indptr[item], weights.indptr[item + 1]
    columns, values = weights.indices[start:end], weights.data[start:end]
    terms = vocabulary[columns]
    # Heaviest first; on a tie the pair first ("gig bag" says more than "bag" and "gig"), then
    # alphabetical. Rounding makes equal counts tie exactly.
    order = np.lexsort((terms, -np.char.count(terms.astype(str), " "), -np.round(values, 9)))
    chosen: list[str] = []
    seen: set[str] = set()
    for term in terms[order]:
        parts = set(term.split())
        if parts <= seen:
            continue
        chosen.append(str(term))
        seen |= parts
        if len(chosen) == k:
            break
    return chosen


def _titles(reviews: pl.DataFrame, words: Any, weights: sp.csr_matrix) -> dict[int, str]:
    """Per item, the training summary with the largest sum of the item's term weights."""
    summaries = reviews.filter(pl.col("summary").is_not_null())
    if summaries.height == 0:
        return {}
    present = words.transform(summaries["summary"].to_list()) > 0  # [S, V] bool
    items = summaries["item"].to_numpy()
    scores = np.asarray(present.multiply(weights[items]).sum(axis=1)).ravel()
    best = (
        summaries.select("item", "summary")
        .with_columns(score=scores, row=pl.int_range(pl.len()))
        .sort(["item", "score", "row"], descending=[False, True, False])
        .unique("item", keep="first", maintain_order=True)
    )
    return dict(zip(best["item"].to_list(), best["summary"].to_list(), strict=True))
