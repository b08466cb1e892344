"""What kind of thing each item is, in a few short phrases, so "avoid ink cartridges" can reach
an item that calls itself an "Ink Tank" or a "Value Pack Ink" without excluding every item whose
text merely resembles the statement.

An item's kind phrases are its category names (whole: "Nail Polish", "Comedy") and the head of
its title: the last one to three words of the title's first segment, i.e. before the first
comma, bracket, " - ", "w/" or "for / with / in / by / from / includes" (product titles name
the thing first and qualify it after: "Ballpoint Pens, Medium Point, Blue Ink" is a pen, not
ink), once trailing words that describe rather than name are dropped (model codes and numbers,
colours, units, packaging): "Canon PGI-9 Green Ink Tank (1041B002)" -> "tank", "ink tank",
"green ink tank". Phrases are embedded once per catalog; a statement's subject is compared to
each phrase, and an item's kind similarity is the best of its phrases (``ItemKinds.similarity``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from genrec.prefs.words import STOPWORDS

#: Longest title head, in words: "green ink tank", "graphing calculator".
HEAD_WORDS = 3
# Where a title's first segment (the thing itself) ends and its qualifiers begin.
_SEGMENT = re.compile(
    r",|\s[-–]\s|\sw/|[(\[;:|]|\s(?:for|with|in|by|from|includes?|including)\s", re.IGNORECASE
)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Trailing words that qualify an item without naming its kind: colours, units, packaging.
# fmt: off
_QUALIFIERS = frozenset((
    "black", "white", "blue", "red", "green", "yellow", "cyan", "magenta", "gray", "grey",
    "silver", "gold", "clear", "pink", "purple", "orange", "brown", "violet", "assorted",
    "color", "colors", "colour", "colours", "mm", "cm", "ml", "oz", "lb", "lbs", "ft", "yd",
    "yds", "pk", "multipack", "twinpack", "combo", "bulk", "value",
))
# fmt: on


def title_head(title: str) -> list[str]:
    """The phrases that name what a title is: the last 1..``HEAD_WORDS`` words of its first
    segment, qualifiers and codes dropped ("Canon PGI-9 Green Ink Tank (1041B002)" -> "tank",
    "ink tank", "green ink tank"); empty when nothing naming is left."""
    tokens = _TOKEN.findall(_SEGMENT.split(title, maxsplit=1)[0].lower())
    while tokens and _qualifies(tokens[-1]):
        tokens.pop()
    return [" ".join(tokens[-n:]) for n in range(1, min(HEAD_WORDS, len(tokens)) + 1)]


def _qualifies(token: str) -> bool:
    return (
        len(token) == 1
        or any(c.isdigit() for c in token)
        or token in STOPWORDS
        or token in _QUALIFIERS
    )


@dataclass(frozen=True)
class ItemKinds:
    """The kind phrases of a catalog of ``n_items``: a vocabulary ``phrases [V]`` with unit
    ``vectors [V, D]`` and the (item, phrase) pairs ``item [P]``, ``phrase [P]`` (sorted by
    item), ``category [P]`` telling a category name from a title head."""

    n_items: int
    phrases: list[str]
    vectors: np.ndarray
    item: np.ndarray
    phrase: np.ndarray
    category: np.ndarray

    def similarity(self, subjects: np.ndarray, skip: np.ndarray | None = None) -> np.ndarray:
        """``[S, n_items]``: per item, the best cosine between each subject vector (``[S, D]``)
        and one of its kind phrases; -1 for an item without any. ``skip [S, V]`` (bool) leaves
        out category phrases a subject must not match (see ``AvoidMatcher``)."""
        out = np.full((len(subjects), self.n_items), -1.0, dtype=np.float32)
        if len(self.item) == 0 or len(subjects) == 0:
            return out
        pairs = (subjects @ self.vectors.T)[:, self.phrase]  # [S, P]
        if skip is not None:
            pairs[skip[:, self.phrase] & self.category] = -1.0
        starts = np.flatnonzero(np.r_[True, self.item[1:] != self.item[:-1]])
        out[:, self.item[starts]] = np.maximum.reduceat(pairs, starts, axis=1)
        return out


def item_kinds(items: pl.DataFrame, encode: Callable[[list[str]], np.ndarray]) -> ItemKinds:
    """The kind phrases of ``items`` (an item table: ``title``, ``categories``), each distinct
    phrase embedded once by ``encode``. Reads the catalog only."""
    titles = items["title"].fill_null("").to_list()
    paths = items["categories"].to_list() if "categories" in items.columns else [None] * len(titles)
    rows = [
        (i, name.strip().lower(), True)
        for i, path in enumerate(paths)
        for name in dict.fromkeys(path or [])
        if name and name.strip()
    ] + [(i, head, False) for i, title in enumerate(titles) for head in title_head(title)]
    pairs = pl.DataFrame(
        rows, schema={"item": pl.Int32, "text": pl.String, "category": pl.Boolean}, orient="row"
    ).unique(["item", "text"], keep="first", maintain_order=True)
    phrases = sorted(set(pairs["text"].to_list()))
    index = pl.DataFrame({"text": phrases, "phrase": np.arange(len(phrases), dtype=np.int32)})
    pairs = pairs.join(index, on="text").sort("item", "phrase")
    vectors = np.asarray(encode(phrases), dtype=np.float32) if phrases else np.zeros((0, 1))
    return ItemKinds(
        n_items=len(titles),
        phrases=phrases,
        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        item=pairs["item"].to_numpy(),
        phrase=pairs["phrase"].to_numpy(),
        category=pairs["category"].to_numpy(),
    )
