"""Hindsight statements: what a user who wanted an item might have typed, written from the item.

A generator learns to follow a statement only from training pairs in which the statement says
something about the target that the history does not. The statements a generator writes from
the items before a step describe the history (leak-free, and so they carry little about the
next item); a hindsight statement is written from the target itself, a label like the target's
ID, legitimate in training and never used at validation or test. Each item gets a few, worded
like what users type ("Looking for a booklet stapler", "Shopping for guitar strings"): a fine
one from its title (brand, model numbers and trailing details removed), a coarse one from its
category leaf (or the title's head noun where the catalog has no categories), and one from its
salient terms. Where users wrote reviews, the user's own review of the item adds what they
bought it for ("for my ukulele" -> "Looking for something for my ukulele"): that review is the
target's, so it is a label too, read for training rows only. Training draws one per example
(``genrec.recipes.conditioning``).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from genrec.data.dataset import Dataset, Sequences
from genrec.prefs.catalog import Catalog, build_catalog
from genrec.prefs.reviews import read_review

TEMPLATES: dict[str, tuple[str, ...]] = {
    "fine": ("Looking for {a} {phrase}", "Wants {a} {phrase}", "Needs {a} {phrase}"),
    "coarse": ("Shopping for {noun}", "Looking for {noun}", "In the market for {noun}"),
    "terms": ("Looking for something {terms}", "Interested in {terms} products"),
    "use": (
        "Looking for something for my {thing}",
        "Needs something for my {thing}",
        "Shopping for my {thing}",
    ),
}
#: Where a title stops naming the product and starts listing details.
_DETAILS = re.compile(r",|\(|\[| - | – |\||;| with | for | by | in | w/ ", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'&+-]*")
#: At most this many words of a title's product phrase (its last ones: the head noun ends it).
MAX_PHRASE_WORDS = 4


@dataclass(frozen=True)
class Hindsight:
    """Hindsight statements by item (or by interaction row): item ``i``'s are
    ``texts[offsets[i]:offsets[i+1]]`` (an item may have none: no title, category or term to
    say anything with)."""

    texts: list[str]
    offsets: np.ndarray  # [n_items + 1] int64

    def count(self) -> np.ndarray:
        """Statements per item ``[n_items]``."""
        return np.diff(self.offsets)


def hindsight_statements(dataset: Dataset, catalog: Catalog, seed: int = 0) -> Hindsight:
    """The hindsight statements of every item of ``dataset``; the wording varies by a hash of
    (seed, item, kind), so the output is deterministic."""
    titles = dataset.items["title"].fill_null("").to_list()
    texts: list[str] = []
    offsets = [0]
    for item in range(dataset.n_items):
        title = titles[item]
        texts += _item_statements(item, title, catalog, seed)
        offsets.append(len(texts))
    return Hindsight(texts, np.asarray(offsets, dtype=np.int64))


def review_statements(dataset: Dataset, catalog: Catalog, seed: int = 0) -> Hindsight:
    """Per interaction row of ``dataset``, what the user's own review of that item says they
    bought it for (none without reviews). Only ever read for the row's own target in training:
    the review comes with the purchase, so at validation and test it is not known."""
    n_rows = dataset.n_interactions
    if not dataset.has("review"):
        return Hindsight([], np.zeros(n_rows + 1, dtype=np.int64))
    reviews = dataset.interactions["review"].fill_null("").to_list()
    texts: list[str] = []
    offsets = [0]
    for row, review in enumerate(reviews):
        for finding in read_review(review, catalog.vocabulary) if review else ():
            if finding.kind == "use":
                options = TEMPLATES["use"]
                pick = zlib.crc32(f"{seed}/row{row}/use/{len(texts)}".encode()) % len(options)
                texts.append(options[pick].format(**dict(finding.values)))
        offsets.append(len(texts))
    return Hindsight(texts, np.asarray(offsets, dtype=np.int64))


@dataclass(frozen=True)
class TargetStatements:
    """The hindsight statements of every training target: row ``r`` of the training
    sequences (user ``u``'s step ``s`` is row ``offsets[u] + s``) has its item's,
    ``by_item`` at ``items[r]``, and its review's, ``by_review`` at ``reviews[r]`` (a row of
    the dataset's interactions)."""

    by_item: Hindsight
    by_review: Hindsight
    items: np.ndarray  # [rows]
    reviews: np.ndarray  # [rows]

    def texts(self, row: int) -> list[str]:
        """Every hindsight statement of training row ``row``'s target."""
        out = []
        for written, index in ((self.by_item, self.items), (self.by_review, self.reviews)):
            key = index[row]
            out += written.texts[written.offsets[key] : written.offsets[key + 1]]
        return out


def target_statements(dataset: Dataset, train: Sequences) -> TargetStatements:
    """The hindsight statements of the targets of ``train`` (a split's training sequences,
    prefixes of the dataset's: a user's step ``s`` is their ``s``-th interaction)."""
    catalog = build_catalog(dataset)
    users = np.repeat(np.arange(len(train)), train.lengths)
    steps = np.arange(len(train.items)) - np.repeat(train.offsets[:-1], train.lengths)
    return TargetStatements(
        hindsight_statements(dataset, catalog),
        review_statements(dataset, catalog),
        train.items.astype(np.int64),
        dataset.sequences().offsets[users] + steps,
    )


def _item_statements(item: int, title: str, catalog: Catalog, seed: int) -> list[str]:
    def say(kind: str, **values: str) -> str:
        options = TEMPLATES[kind]
        return options[zlib.crc32(f"{seed}/{item}/{kind}".encode()) % len(options)].format(**values)

    out = []
    phrase = title_phrase(title, catalog.brand[item])
    if phrase:
        out.append(say("fine", a=_article(phrase), phrase=phrase))
    leaf = catalog.leaf[item]
    noun = leaf.lower() if leaf else (phrase.split()[-1] if phrase else "")
    if noun and noun != phrase:
        out.append(say("coarse", noun=noun))
    terms = [t for t in catalog.item_terms[item] if t not in (phrase or "").split()][:2]
    if terms:
        out.append(say("terms", terms=" and ".join(terms)))
    return out


def title_phrase(title: str, brand: str | None) -> str:
    """The product a title names, lower case: the part before its details, without the brand,
    model numbers and other words with digits, its last ``MAX_PHRASE_WORDS`` words
    ("Stanley Bostitch AntiJam Booklet Stapler, 20 Sheet" -> "antijam booklet stapler")."""
    head = _DETAILS.split(title, maxsplit=1)[0]
    words = [w for w in head.split() if not any(ch.isdigit() for ch in w)]
    words = [m.group(0) for w in words if (m := _WORD.fullmatch(w.strip(".:!\"'")))]
    brand_words = {w.lower() for w in (brand or "").split()}
    while words and words[0].lower() in brand_words:
        words = words[1:]
    return " ".join(words[-MAX_PHRASE_WORDS:]).lower()


def _article(phrase: str) -> str:
    return "an" if phrase[:1] in "aeiou" else "a"
