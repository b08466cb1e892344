"""Which catalog items an "avoid" statement names, so a recommender can exclude them outright.

A negative statement ("avoid strong fragrance", "Is not looking for Hair Care products") is
reduced to its subject ("strong fragrance", "hair care") by stripping negation cues and filler,
then matched against every item three ways; an item matched any way is excluded:
- by words (``words``): every content word of the subject occurs in the item's text (its title,
  categories, brand, ...), so "avoid glitter" catches each item that says "glitter";
- by kind (``kind_threshold``): one of the item's kind phrases (a category name, its title's
  head: ``genrec.prefs.kinds``) means the subject, sentence-encoder cosine at or above the
  threshold, so "avoid ink cartridges" catches a "Green Ink Tank" and a "Value Pack Ink". A
  category name broader than the subject (its words a strict subset: "Makeup" for "makeup sets")
  does not count: it names the parent class, whose other members the user did not name;
- by meaning (``threshold``): cosine between the subject and the item's whole text, at or above
  a threshold (calibrated on validation with ``genrec.prefs.threshold``), for statements that
  name a property rather than a kind ("strong fragrance").
The matcher holds only the catalog's texts and vectors: by construction it never sees a user, a
history or a target. Everything is vectorised over the catalog (matrix products and joins).
Measured recall and collateral exclusion per category: benchmarks/results/avoid-recall.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import field, replace
from pathlib import Path

import numpy as np
import polars as pl

from genrec.config import bounded, configclass
from genrec.data.dataset import Dataset
from genrec.errors import DataError
from genrec.prefs.kinds import ItemKinds, item_kinds
from genrec.prefs.words import STOPWORDS
from genrec.text.encoder import EncoderConfig, TextEncoder
from genrec.text.template import ItemTemplate

#: Whole-text cosine at which an item matches by meaning when a dataset is not calibrated (`genrec
#: prefs threshold`), chosen on half of the kinds of Beauty, ML-100K and Office: the best recall
#: adding at most 0.5 points of mean collateral exclusion to word matching (0.45 added 0.9-1.7).
#: The kind-phrase cosine at which an item matches by kind was set from a reported case: "ink
#: tank" scores 0.753 against "ink cartridges", "printer" 0.70, "ballpoint pens" 0.37 (but "ink
#: pens" 0.76: a title headed so is excluded too). See benchmarks/results/avoid-recall.md.
DEFAULT_THRESHOLD = 0.55
DEFAULT_KIND_THRESHOLD = 0.75

# Phrases that say "not this" rather than what "this" is; longest first so "steers clear of"
# goes before "clear". Applied anywhere in the statement, case-insensitively.
_CUES = re.compile(
    r"\b(?:steer(?:s|ing)?\s+clear\s+of|stay(?:s|ing)?\s+away\s+from|keeps?\s+away\s+from|"
    r"(?:is|are|am|i'm)?\s*not\s+(?:looking\s+for|interested\s+in|a\s+fan\s+of|into)|"
    r"shows?\s+no\s+interest\s+in|no\s+interest\s+in|"
    r"(?:does|do|did|would|will)\s*(?:not|n't)\s+(?:want|like|need|buy|use)|"
    r"(?:don't|doesn't|didn't|won't|wouldn't)\s+(?:want|like|need|buy|use)|"
    r"avoid(?:s|ed|ing)?|dislike[sd]?|hate[sd]?|nothing\s+with|none\s+of|"
    r"nothing|without|never|no|not|please)\b",
    re.IGNORECASE,
)
# Words around the subject that name no property of an item.
_FILLER = re.compile(
    r"\b(?:after\s+a\s+bad\s+experience|i|me|my|the\s+user|user|they|she|he|products?|items?|"
    r"anything|any|another|more|stuff|things?|ones?|it|them|this|that|these|those)\b",
    re.IGNORECASE,
)
_EDGES = re.compile(r"^(?:\W|a\b|an\b|the\b|with\b|of\b|for\b|in\b|to\b)+|(?:\W|\band\b)+$")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def subject(statement: str) -> str:
    """What a negative statement is about: "Avoids strong fragrance products" -> "strong
    fragrance". Empty when nothing but cues and filler is left ("avoid it")."""
    text = _FILLER.sub(" ", _CUES.sub(" ", statement))
    text = re.sub(r"\s+", " ", text).strip().lower()
    previous = None
    while previous != text:
        previous, text = text, _EDGES.sub("", text).strip()
    return text


def content_words(text: str) -> list[str]:
    """Lower-case words without stopwords, in singular ("Nail Polishes" -> nail, polish): the
    same normal form on both sides is all word matching needs."""
    return [_singular(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def _singular(word: str) -> str:
    if len(word) <= 3 or not word.endswith("s") or word.endswith("ss"):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    return word[:-1]


@configclass
class MatchConfig:
    """How negative statements become excluded items."""

    # Cosine (subject vs item text) at or above which an item is excluded; 1 matches by
    # meaning almost nothing, -1 everything.
    threshold: float = bounded(DEFAULT_THRESHOLD, ge=-1, le=1)
    words: bool = True  # also exclude items whose text holds every content word of the subject
    # Cosine (subject vs an item's category names and title head) at or above which the item
    # is excluded as being of the kind the statement names; 1 keeps only identical names.
    kind_threshold: float = bounded(DEFAULT_KIND_THRESHOLD, ge=-1, le=1)
    template: ItemTemplate = field(default_factory=ItemTemplate)  # the IDs' item text
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


class AvoidMatcher:
    """Statements -> items they name, over a fixed catalog ``[n_items]``.

    ``item_texts`` (label-free item text, for word matching) and ``item_vectors`` (``[n_items,
    D]`` unit rows, for cosine) describe the catalog; ``encode`` embeds subjects the same way;
    ``kinds`` (optional) holds the items' kind phrases for matching by kind.
    """

    def __init__(
        self,
        item_texts: Sequence[str],
        item_vectors: np.ndarray,
        encode: Callable[[list[str]], np.ndarray],
        *,
        threshold: float = DEFAULT_THRESHOLD,
        words: bool = True,
        kinds: ItemKinds | None = None,
        kind_threshold: float = DEFAULT_KIND_THRESHOLD,
    ) -> None:
        if len(item_texts) != len(item_vectors):
            raise DataError(
                f"avoid matching: {len(item_texts)} item texts but {len(item_vectors)} vectors"
            )
        if kinds is not None and kinds.n_items != len(item_texts):
            raise DataError(
                f"avoid matching: kind phrases for {kinds.n_items} items, texts for "
                f"{len(item_texts)}; build both from the same item table"
            )
        self.n_items = len(item_texts)
        self.item_vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        self.encode = encode
        self.threshold = threshold
        self.words = words
        self.kinds = kinds
        self.kind_threshold = kind_threshold
        rows = [(i, w) for i, text in enumerate(item_texts) for w in set(content_words(text))]
        self._item_words = _word_table(rows, "item")
        phrases = kinds.phrases if kinds is not None else []
        self._phrase_words = _word_table(
            [(j, w) for j, text in enumerate(phrases) for w in set(content_words(text))], "phrase"
        )

    def subjects(self, statements: Sequence[str]) -> list[str]:
        """``subject`` of each statement; one with nothing left is an error naming it."""
        found = [subject(s) for s in statements]
        empty = [s for s, f in zip(statements, found, strict=True) if not f]
        if empty:
            raise DataError(
                f"avoid statement {empty[0]!r} names nothing to avoid once its negation is "
                "removed; say what to avoid (e.g. 'avoid strong fragrance')."
            )
        return found

    def _vectors(self, statements: Sequence[str]) -> np.ndarray:
        """``[S, D]``: each statement's subject embedded (each distinct subject once)."""
        unique, inverse = np.unique(self.subjects(statements), return_inverse=True)
        return np.asarray(self.encode(unique.tolist()), dtype=np.float32)[inverse]

    def similarity(self, statements: Sequence[str]) -> np.ndarray:
        """Cosine ``[S, n_items]`` between each statement's subject and each item's text."""
        return self._vectors(statements) @ self.item_vectors.T

    def kind_similarity(
        self, statements: Sequence[str], vectors: np.ndarray | None = None
    ) -> np.ndarray:
        """``[S, n_items]``: per item, the best cosine between the subject and one of its kind
        phrases, leaving out category names broader than the subject; -1 without kinds.
        ``vectors``: the subjects already embedded, if they are."""
        if self.kinds is None:
            return np.full((len(statements), self.n_items), -1.0, dtype=np.float32)
        vectors = self._vectors(statements) if vectors is None else vectors
        skip = self._broader(statements, len(self.kinds.phrases))
        return self.kinds.similarity(vectors, skip=skip)

    def _broader(self, statements: Sequence[str], n_phrases: int) -> np.ndarray:
        """bool ``[S, n_phrases]``: the kind phrase's content words are a strict subset of the
        subject's ("makeup" for "makeup sets")."""
        out = np.zeros((len(statements), n_phrases), dtype=bool)
        wanted = self._wanted(statements)
        if wanted.height == 0 or self._phrase_words.height == 0:
            return out
        sizes = self._phrase_words.group_by("phrase").len("size")
        hits = (
            wanted.join(self._phrase_words, on="word")
            .group_by("statement", "phrase")
            .len("found")
            .join(sizes, on="phrase")
            .join(wanted.group_by("statement").len("needed"), on="statement")
            .filter((pl.col("found") == pl.col("size")) & (pl.col("size") < pl.col("needed")))
        )
        out[hits["statement"].to_numpy(), hits["phrase"].to_numpy()] = True
        return out

    def _wanted(self, statements: Sequence[str]) -> pl.DataFrame:
        """(statement, word): the distinct content words of each statement's subject."""
        return _word_table(
            [
                (s, w)
                for s, text in enumerate(self.subjects(statements))
                for w in content_words(text)
            ],
            "statement",
        ).unique()

    def word_match(self, statements: Sequence[str]) -> np.ndarray:
        """bool ``[S, n_items]``: the item's text holds every content word of the subject
        (a subject of stopwords only matches nothing by words)."""
        out = np.zeros((len(statements), self.n_items), dtype=bool)
        wanted = self._wanted(statements)
        if wanted.height == 0:
            return out
        needed = wanted.group_by("statement").len("needed")
        hits = (
            wanted.join(self._item_words, on="word")
            .group_by("statement", "item")
            .len("found")
            .join(needed, on="statement")
            .filter(pl.col("found") == pl.col("needed"))
        )
        out[hits["statement"].to_numpy(), hits["item"].to_numpy()] = True
        return out

    def fixed_match(
        self, statements: Sequence[str], vectors: np.ndarray | None = None
    ) -> np.ndarray:
        """bool ``[S, n_items]``: the matches the meaning threshold does not decide, by words
        (when ``words``) and by kind."""
        matched = self.kind_similarity(statements, vectors) >= self.kind_threshold
        return matched | self.word_match(statements) if self.words else matched

    def match(self, statements: Sequence[str], threshold: float | None = None) -> np.ndarray:
        """bool ``[S, n_items]``: the items each statement excludes."""
        if not statements:
            return np.zeros((0, self.n_items), dtype=bool)
        cut = self.threshold if threshold is None else threshold
        vectors = self._vectors(statements)
        return (vectors @ self.item_vectors.T >= cut) | self.fixed_match(statements, vectors)

    def excluded(self, per_user: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per user, the sorted item indices any of their statements excludes."""
        flat = [s for statements in per_user for s in statements]
        matched = self.match(flat)
        out, start = [], 0
        for statements in per_user:
            rows = matched[start : start + len(statements)]
            out.append(np.flatnonzero(rows.any(axis=0)) if len(statements) else np.array([], int))
            start += len(statements)
        return out


def _word_table(rows: list[tuple[int, str]], key: str) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={key: pl.Int32, "word": pl.String}, orient="row")


def avoid_matcher(
    dataset: Dataset,
    config: MatchConfig | None = None,
    *,
    cache_dir: str | Path | None = None,
    encoder: TextEncoder | None = None,
    progress: bool = False,
) -> AvoidMatcher:
    """The matcher for ``dataset``'s catalog: item and kind-phrase vectors from the embedding
    cache (computed once per catalog and model), subjects encoded by the same model. Only the
    item table is read; the interactions never reach the matcher."""
    config = config or MatchConfig()
    from genrec.text.cache import item_embeddings, text_embeddings

    encoder = encoder or TextEncoder(config.encoder)
    vectors = item_embeddings(
        dataset, config.template, cache_dir=cache_dir, progress=progress, encoder=encoder
    )
    bare = replace(config.template, labels={name: "" for name in config.template.fields})
    return AvoidMatcher(
        bare.render(dataset.items),
        vectors,
        lambda texts: encoder.encode(texts, progress=False),
        threshold=config.threshold,
        words=config.words,
        kinds=item_kinds(
            dataset.items,
            lambda texts: text_embeddings(texts, encoder, cache_dir=cache_dir, progress=progress),
        ),
        kind_threshold=config.kind_threshold,
    )
