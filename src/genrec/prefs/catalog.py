"""What each item is about, computed once over the whole item table with polars.

Two kinds of evidence ground the ``attributes`` generator:
- categories: in ``path`` layout (Amazon's "Skin Care > Face > Moisturizers") every prefix of
  the item's path; in ``set`` layout (MovieLens genres) each name. A leading label that is not
  a category (P5 Beauty puts a frequent brand, or "Unknown", in front of the path) is dropped:
  it never occurs deeper in any path and is followed by a name that starts other paths.
- terms: TF-IDF over the item text (title and description) against the catalog, so a window's
  salient words are the ones that tell its items apart, not "hair" or "color". Brand words are
  left out unless asked for, and so are words that carry an opinion rather than describe the
  item (VADER's lexicon: "good", "bad", "perfect"), negation cues ("never") and adverbs
  ("accurately"): a title such as "The Good, the Bad and the Ugly" must not describe a western
  as "bad good". Nor are these descriptive: a title that is one reviewer's summary
  (Instruments: "No more pops when I record my vocals.", see ``genrec.data.review_text``),
  words glued to digits ("gtr210"), words cut short by a length limit (P5 keyword phrases end in
  "flui", "invig"), and generic verbs and nouns (``genrec.prefs.words``: "close", "break", "coded").

Subjects for contrast statements are ranked by their interactions among *training* rows only
(leave-one-out: never a user's last two), so a validation or test target never shapes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import polars as pl

from genrec.data.dataset import Dataset
from genrec.data.splits import training_rows
from genrec.prefs.words import GENERIC_WORDS, PEOPLE, STOPWORDS

Layout = Literal["path", "set"]
PATH_SEPARATOR = " > "
# A category list is a path when at least this share of its names (by occurrence) has one
# parent: taxonomies reuse some names under several parents (Beauty 0.66, Office 0.96), while
# tag lists in a canonical order give most names many predecessors (MovieLens genres 0.10).
TREE_SHARE = 0.5
# Whole-word negation cues (as genrec.prefs.polarity reads them) and -ly adverbs, which say how
# rather than what ("supply" and "assembly" are nouns, hence the [^bp]).
_NOT_DESCRIPTIVE = (
    r"^(?:avoid\w*|no|not|never|without|nothing|none|dislike\w*|hate\w*|[a-z]{3,}[^bp]ly)$"
)
_ENTITIES = {"&amp;": "&", "&#39;": "'", "&quot;": '"', "&#x27;": "'"}
# Whole words only: "gtr210" or "e55" is a model number, not the word "gtr".
_WORD = r"\b[a-z]+(?:-[a-z]+)*\b"
# A word cut short ends most of the texts it occurs in (P5 phrases are cut at a length).
TRUNCATED_AT_END = 0.5


@dataclass(frozen=True)
class Catalog:
    """Item evidence tables (all keyed by item index)."""

    layout: Layout
    categories: pl.DataFrame  # item, category (path prefix or name), depth (1 in set layout)
    leaf: list[str | None]  # [n_items] most specific category name, for wording
    terms: pl.DataFrame  # item, term, weight (l2-normalised TF-IDF, top terms per item)
    brand: list[str | None]  # [n_items] brand column, else the dropped leading label
    roots: list[str]  # top-level subjects (categories, else terms), most trained on first
    item_roots: list[list[str]]  # [n_items] each item's top-level subjects (or terms named)
    item_terms: list[list[str]]  # [n_items] each item's terms, most telling first
    # Descriptive words of the item texts with df >= min_df (no upper bound) -> their df: what
    # a phrase read from a review must be made of to name a thing ("ukulele", "case").
    vocabulary: dict[str, int]


def build_catalog(
    dataset: Dataset,
    *,
    layout: Literal["auto", "path", "set"] = "auto",
    include_brand: bool = False,
    max_terms: int = 8,
    min_df: int = 2,
    max_df: float = 0.1,
) -> Catalog:
    """Category and term evidence for every item of ``dataset``."""
    items = dataset.items
    names = items["categories"].list.eval(
        _unescape(pl.element()).str.strip_chars().filter(pl.element().str.len_chars() > 0)
    )
    stripped, label = _drop_leading_label(names)
    if layout == "auto":
        layout = "path" if _is_tree(stripped) else "set"
    lists = stripped if layout == "path" else names.list.unique(maintain_order=True)
    categories = _category_rows(lists, layout)
    leaf = _leaf(lists, categories, layout, dataset.n_items)
    if layout == "set":  # no taxonomy, so no label in front of one
        label = pl.Series("label", [None] * len(label), dtype=pl.String)
    brand = items.select(
        pl.coalesce(_unescape(pl.col("brand")).str.strip_chars(), pl.lit(label))
    ).to_series()
    text = _item_text(dataset)
    tokens = _descriptive(_words(text), None if include_brand else brand)
    terms = _tfidf(tokens, dataset.n_items, max_terms, min_df, max_df)
    df = tokens.unique(["item", "term"]).group_by("term").len("df")
    vocabulary = dict(df.filter(pl.col("df") >= min_df).sort("term").iter_rows())
    # A contrast statement names a subject the user never touched: a top-level category, or on
    # a catalog without categories (P5 Sports has keyword phrases only) a descriptive term,
    # which every item that mentions it touches, not only those it describes best.
    subjects = categories.filter(pl.col("depth") == 1).select("item", subject="category")
    if subjects.is_empty():
        named = terms["term"].unique().implode()
        mentions = tokens.unique(["item", "term"], maintain_order=True).sort("item")
        subjects = mentions.filter(pl.col("term").is_in(named)).select("item", subject="term")
    return Catalog(
        layout,
        categories,
        leaf,
        terms,
        brand.to_list(),
        _roots(dataset, subjects),
        _per_item(subjects, "subject", dataset.n_items),
        _per_item(terms, "term", dataset.n_items),
        vocabulary,
    )


@cache
def opinion_words() -> list[str]:
    """The words of VADER's sentiment lexicon: they judge an item, they do not describe it."""
    from genrec.prefs.polarity import sentiment_lexicon

    return sorted(w for w in sentiment_lexicon() if w.isalpha())


def _per_item(frame: pl.DataFrame, column: str, n_items: int) -> list[list[str]]:
    """``frame[column]`` grouped by item, in frame order, as one list per item index."""
    out: list[list[str]] = [[] for _ in range(n_items)]
    grouped = frame.group_by("item", maintain_order=True).agg(column)
    for item, values in grouped.iter_rows():
        out[item] = values
    return out


def _unescape(expr: pl.Expr) -> pl.Expr:
    for entity, char in _ENTITIES.items():
        expr = expr.str.replace_all(entity, char, literal=True)
    return expr


def _drop_leading_label(names: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Category lists without a leading non-category label, and that label (or null)."""
    frame = pl.DataFrame({"names": names}).with_row_index("item")
    flat = frame.explode("names").drop_nulls().with_columns(pos=pl.int_range(pl.len()).over("item"))
    deeper = flat.filter(pl.col("pos") > 0)["names"].unique()
    starts = flat.filter(pl.col("pos") == 0)["names"].unique()
    first, second = (
        pl.col("names").list.get(0, null_on_oob=True),
        pl.col("names").list.get(1, null_on_oob=True),
    )
    is_label = ~first.is_in(deeper.implode()) & second.is_in(starts.implode())
    out = frame.select(
        pl.when(is_label).then(pl.col("names").list.slice(1)).otherwise(pl.col("names")),
        pl.when(is_label).then(first).alias("label"),
    )
    return out["names"], out["label"]


def _is_tree(lists: pl.Series) -> bool:
    """Whether most names have at most one parent (a taxonomy) rather than many (a tag set)."""
    frame = pl.DataFrame({"names": lists}).with_row_index("item").explode("names").drop_nulls()
    if frame.height == 0:
        return False
    frame = frame.with_columns(parent=pl.col("names").shift(1).over("item"))
    parents = frame.group_by("names").agg(
        pl.col("parent").drop_nulls().n_unique().alias("n"), pl.len()
    )
    single = parents.filter(pl.col("n") <= 1)["len"].sum()
    return single / parents["len"].sum() >= TREE_SHARE


def _category_rows(lists: pl.Series, layout: Layout) -> pl.DataFrame:
    """``item, category, depth``: every path prefix (path layout) or every name (set layout)."""
    frame = pl.DataFrame({"names": lists}).with_row_index("item")
    if layout == "set":
        return (
            frame.explode("names")
            .drop_nulls()
            .select(pl.col("item").cast(pl.Int32), pl.col("names").alias("category"))
            .with_columns(depth=pl.lit(1, dtype=pl.Int32))
        )
    longest = int(frame["names"].list.len().max() or 0)
    parts = [
        frame.filter(pl.col("names").list.len() >= d).select(
            pl.col("item").cast(pl.Int32),
            pl.col("names").list.head(d).list.join(PATH_SEPARATOR).alias("category"),
            pl.lit(d, dtype=pl.Int32).alias("depth"),
        )
        for d in range(1, longest + 1)
    ]
    schema = {"item": pl.Int32, "category": pl.String, "depth": pl.Int32}
    return pl.concat(parts).sort("item", "depth") if parts else pl.DataFrame(schema=schema)


def _leaf(
    lists: pl.Series, categories: pl.DataFrame, layout: Layout, n_items: int
) -> list[str | None]:
    """The most specific name per item: the path's last, or the set's rarest in the catalog."""
    if layout == "path":
        return lists.list.last().to_list()
    df = categories.group_by("category").agg(pl.len().alias("df"))
    rarest = (
        categories.join(df, on="category")
        .sort("item", "df", "category")
        .group_by("item", maintain_order=True)
        .first()
    )
    leaf: list[str | None] = [None] * n_items
    for item, name in zip(rarest["item"].to_list(), rarest["category"].to_list(), strict=True):
        leaf[item] = name
    return leaf


def _roots(dataset: Dataset, subjects: pl.DataFrame) -> list[str]:
    """Subjects (``item, subject``) ordered by how many training interactions fall in them:
    the validation and test targets (each user's last two) are never counted."""
    train = pl.Series(training_rows(dataset, "leave_one_out"))
    rows = dataset.interactions.select("item").filter(train)
    counts = rows.join(subjects, on="item").group_by("subject").len()
    return counts.sort(["len", "subject"], descending=[True, False])["subject"].to_list()


def _item_text(dataset: Dataset) -> pl.Series:
    """Per item, title and description; a title that is one of the item's training review
    summaries is left out: it is one reviewer's headline, and its words ("close", "pops")
    describe that reviewer's experience, not the item."""
    items = dataset.items
    title = pl.col("title")
    if dataset.has("summary"):
        train = pl.Series(training_rows(dataset, "leave_one_out"))
        summaries = (
            dataset.interactions.filter(train & pl.col("summary").is_not_null())
            .select("item", title="summary")
            .unique()
            .with_columns(headline=pl.lit(True))
        )
        items = items.join(summaries, on=["item", "title"], how="left", maintain_order="left")
        title = pl.when(pl.col("headline").is_null()).then(title)
    text = pl.concat_str(
        [title, pl.col("description").str.slice(0, 2000)], separator=" ", ignore_nulls=True
    )
    return items.select(_unescape(text)).to_series()


def _descriptive(tokens: pl.DataFrame, brand: pl.Series | None) -> pl.DataFrame:
    """The ``item, term`` rows whose word describes an item (see the module docstring)."""
    tokens = tokens.filter(
        (pl.col("term").str.len_chars() >= 3)
        & pl.col("term").str.contains("[aeiouy]")  # "dr", "pkg", "ml": abbreviations
        & ~pl.col("term").is_in(list(STOPWORDS | GENERIC_WORDS | PEOPLE))
        & ~pl.col("term").is_in(opinion_words())
        & ~pl.col("term").str.contains(_NOT_DESCRIPTIVE)
        & ~pl.col("term").is_in(_truncated(tokens))
    )
    if brand is not None:
        tokens = tokens.join(_words(brand), on=["item", "term"], how="anti")
    return tokens


def _truncated(tokens: pl.DataFrame) -> list[str]:
    """Words cut short: a word that ends most texts it occurs in and starts a word found in
    more items ("flui" -> "fluid", "invig" -> "invigorating"). ``tokens``: ``item, term`` in
    text order."""
    counts = tokens.group_by("term").agg(pl.col("item").n_unique().alias("df"), pl.len().alias("n"))
    ends = tokens.group_by("item").last().group_by("term").len("ends")
    ending = counts.join(ends, on="term").filter(pl.col("ends") >= TRUNCATED_AT_END * pl.col("n"))
    if ending.is_empty():
        return []
    vocabulary = counts.sort("term")
    words, dfs = vocabulary["term"].to_numpy(), vocabulary["df"].to_numpy()
    found = []
    for word, df in ending.select("term", "df").iter_rows():
        # Words starting with ``word`` sit right after it in sorted order.
        start = int(np.searchsorted(words, word, side="right"))
        end = int(np.searchsorted(words, word + "{", side="left"))  # "{" sorts after "z"
        if end > start and dfs[start:end].max() > df:
            found.append(word)
    return found


def _tfidf(
    tokens: pl.DataFrame,
    n_items: int,
    max_terms: int,
    min_df: int,
    max_df: float,
) -> pl.DataFrame:
    """``item, term, weight``: sublinear TF x smoothed IDF, l2-normalised, top ``max_terms``."""
    tf = tokens.group_by("item", "term").len()
    df = tf.group_by("term").len("df")
    keep = df.filter((pl.col("df") >= min_df) & (pl.col("df") <= max(min_df, max_df * n_items)))
    weighted = tf.join(keep, on="term").with_columns(
        weight=(1 + pl.col("len").log()) * (((1 + n_items) / (1 + pl.col("df"))).log() + 1)
    )
    weighted = weighted.with_columns(
        weight=pl.col("weight") / (pl.col("weight") ** 2).sum().sqrt().over("item")
    )
    return (
        weighted.sort(["item", "weight", "term"], descending=[False, True, False])
        .group_by("item", maintain_order=True)
        .head(max_terms)
        .select("item", "term", pl.col("weight").cast(pl.Float64))
    )


def _words(text: pl.Series) -> pl.DataFrame:
    """``item, term``: the lower-cased words of each item's ``text`` (row = item index)."""
    return (
        pl.DataFrame({"text": text.fill_null("")})
        .with_row_index("item")
        .select(
            pl.col("item").cast(pl.Int32),
            pl.col("text").str.to_lowercase().str.extract_all(_WORD).alias("term"),
        )
        .explode("term")
        .drop_nulls()
    )
