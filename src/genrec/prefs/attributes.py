"""The ``attributes`` generator: statements from the evidence of a user's last items, no model.

For each step it reads the ``window`` items right before it (Mender reads the last 5) and
writes up to ``max_statements`` statements from: the window's salient category (the path most
items share, deepest first), its salient terms (TF-IDF against the catalog, see ``catalog``),
the items the user liked or disliked (rating >= 4 / <= 2, else the sentiment of the review),
the brand when asked, what the user's own reviews of the window say that no item ID does
(``genrec.prefs.reviews``: "Shops for their ukulele", "Needs a case", "Does not want the action
too high"), and, when nothing else is negative, the most trained-on top-level category the user
never bought before the step. Wording varies by a hash of (seed, user, step, kind), so the
output is deterministic. Evidence is gathered for all steps at once with polars; only the final
wording loops over steps. Nothing a step writes depends on its target or later interactions.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import polars as pl

from genrec.config import bounded, configclass, to_dict
from genrec.data.dataset import Dataset
from genrec.prefs.catalog import PATH_SEPARATOR, Catalog, build_catalog
from genrec.prefs.polarity import sentiment
from genrec.prefs.reviews import Finding, read_review, with_article
from genrec.prefs.statements import Statements
from genrec.prefs.steps import Steps, window_rows

#: Bump when the wording or selection changes what a given config writes.
VERSION = 4

TEMPLATES: dict[str, tuple[str, ...]] = {
    "category": (
        "Prefers products from the {path} category",
        "Shops mostly for {path}",
        "Keeps coming back to {path}",
        "Is drawn to {path} items",
    ),
    "terms": (
        "Looks for {terms} {noun}",
        "Wants {terms} {noun}",
        "Is interested in {terms} {noun}",
    ),
    "more_terms": (
        "Often picks items described as {terms}",
        "Also likes {terms} products",
        "Responds well to {terms}",
    ),
    "liked": (  # {item} comes with its article: "a matte lipstick", "elixir strings"
        "Rated {item} highly and wants more like it",
        "Loved {item}",
        "Was happy with {item}",
    ),
    "disliked": (
        "Avoids {item} products",
        "Dislikes {item} items after a bad experience",
        "Steers clear of {item}",
        "Does not want another {item}",
    ),
    "brand": ("Sticks with {brand}", "Likes {brand} products", "Trusts the {brand} brand"),
    "contrast": ("Is not looking for {root} products", "Shows no interest in {root}"),
    # From the user's own reviews of the window (genrec.prefs.reviews).
    "use": (
        "Shops for their {thing}",
        "Buys for their {thing}",
        "Wants something for their {thing}",
    ),
    "need": ("Needs {thing}", "Is looking for {thing}", "Wants {thing}"),
    "too_subject": (
        "Does not want the {subject} too {quality}",
        "Wants the {subject} not too {quality}",
    ),
    "too": ("Avoids anything too {quality}", "Does not want anything too {quality}"),
    "problem": ("Wants no {problem}", "Avoids anything with {problem}"),
}
#: Statements from reviews, by kind: which polarity, and how many one step may have.
REVIEW_KINDS = {"use": "positive", "need": "positive", "complaint": "negative"}


@configclass
class AttributesConfig:
    """Settings of the ``attributes`` generator (all recorded in the statements' manifest)."""

    window: int = bounded(5, ge=1)  # items read before the step, as in Mender
    max_statements: int = bounded(5, ge=1)  # Mender writes 5 per step
    include_brand: bool = False  # brand words steer to one brand; only when asked
    # "path": categories are taxonomy paths (Amazon); "set": tags (genres); "auto" tells them
    # apart by how many parents each name has.
    categories: Literal["auto", "path", "set"] = "auto"
    max_terms_per_item: int = bounded(8, ge=1)
    # A word in one or two items only is a model number, a product line or a typo.
    min_df: int = bounded(3, ge=1)
    max_df: float = bounded(0.1, gt=0, le=1)  # a word in over 10% of the catalog says nothing
    like_rating: float = bounded(4.0, ge=0)  # ratings are counts of stars: never negative
    dislike_rating: float = bounded(2.0, ge=0)
    # VADER compound of the review (in [-1, 1]), used where there is no decisive rating.
    review_like: float = bounded(0.5, ge=-1, le=1)
    review_dislike: float = bounded(-0.3, ge=-1, le=1)
    contrast: bool = True  # a negative statement: a popular category (or term) never bought
    reviews: bool = True  # uses, needs and complaints read from the window's own reviews
    seed: int = bounded(0, ge=0, le=2**32 - 1)  # picks the wording

    def __post_init__(self) -> None:
        if self.dislike_rating >= self.like_rating:
            raise ValueError(
                f"dislike_rating ({self.dislike_rating}) must be below like_rating "
                f"({self.like_rating})"
            )
        if self.review_dislike >= self.review_like:
            raise ValueError(
                f"review_dislike ({self.review_dislike}) must be below review_like "
                f"({self.review_like})"
            )


class AttributesGenerator:
    """Deterministic statements from categories, terms, ratings and reviews of the window."""

    name = "attributes"

    def __init__(self, config: AttributesConfig | None = None) -> None:
        self.config = config or AttributesConfig()
        self._catalog: tuple[str, Catalog] | None = None  # (dataset fingerprint, catalog)

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": VERSION, **to_dict(self.config)}

    def generate(self, dataset: Dataset, steps: Steps) -> Statements:
        catalog = self._catalog_of(dataset)
        cfg = self.config
        window = window_rows(dataset, steps, cfg.window)
        skipped = Counter({"no_history": len(steps) - window["case"].n_unique()})
        categories = _salient(window, catalog.categories, ["category", "depth"])
        terms = _salient(window, catalog.terms, ["term"], weight="weight")
        opinions = self._opinions(dataset, window)
        findings = self._findings(dataset, window, catalog) if cfg.reviews else {}
        bought = _first_bought(dataset, steps, catalog) if cfg.contrast else {}
        rows: list[tuple[int, int, str, str, str]] = []
        for case, user, step in zip(range(len(steps)), steps.users, steps.steps, strict=True):
            written = self._write(
                int(user),
                int(step),
                catalog,
                categories.get(case, []),
                terms.get(case, []),
                opinions.get(case, []),
                findings.get(case, []),
                bought.get(int(user), {}),
            )
            if not written and case in opinions:
                skipped["no_evidence"] += 1
            rows += [(int(user), int(step), *w) for w in written]
        return Statements.from_rows(dataset, self.name, rows, skipped)

    # ----------------------------------------------------------------- evidence
    def _catalog_of(self, dataset: Dataset) -> Catalog:
        if self._catalog is None or self._catalog[0] != dataset.fingerprint:
            cfg = self.config
            catalog = build_catalog(
                dataset,
                layout=cfg.categories,
                include_brand=cfg.include_brand,
                max_terms=cfg.max_terms_per_item,
                min_df=cfg.min_df,
                max_df=cfg.max_df,
            )
            self._catalog = (dataset.fingerprint, catalog)
        return self._catalog[1]

    def _opinions(self, dataset: Dataset, window: pl.DataFrame) -> dict[int, list[tuple]]:
        """Per case, its window items newest first as ``(item, opinion)``: like/dislike/None."""
        cfg = self.config
        columns = [c for c in ("rating", "review") if dataset.has(c)]
        frame = (
            window.join(
                dataset.interactions.select(columns)
                .with_row_index("row")
                .with_columns(pl.col("row").cast(pl.Int64)),
                on="row",
                how="left",
            )
            if columns
            else window
        )
        opinion = pl.lit(None, dtype=pl.String)
        if "review" in columns:
            reviewed = frame.filter(pl.col("review").str.len_chars() > 0).select("row", "review")
            reviewed = reviewed.unique("row", maintain_order=True)
            scores = pl.Series(sentiment(reviewed["review"].to_list()), dtype=pl.Float64)
            frame = frame.join(
                reviewed.select("row").with_columns(compound=scores), on="row", how="left"
            )
            opinion = (
                pl.when(pl.col("compound") >= cfg.review_like)
                .then(pl.lit("liked"))
                .when(pl.col("compound") <= cfg.review_dislike)
                .then(pl.lit("disliked"))
            )
        if "rating" in columns:
            opinion = (
                pl.when(pl.col("rating") >= cfg.like_rating)
                .then(pl.lit("liked"))
                .when(pl.col("rating") <= cfg.dislike_rating)
                .then(pl.lit("disliked"))
                .otherwise(opinion)
            )
        frame = frame.with_columns(opinion=opinion).sort("case", "recency")
        grouped = frame.group_by("case", maintain_order=True).agg("item", "opinion")
        return {
            case: list(zip(items, ops, strict=True)) for case, items, ops in grouped.iter_rows()
        }

    def _findings(
        self, dataset: Dataset, window: pl.DataFrame, catalog: Catalog
    ) -> dict[int, list[Finding]]:
        """Per case, what the user's reviews of its window items say, newest review first.
        Only the window's own rows are read: never the target's review or a later one."""
        if not dataset.has("review"):
            return {}
        frame = window.sort("case", "recency").select("case", "row")
        rows = frame["row"].unique().sort()
        texts = dataset.interactions["review"].gather(rows).fill_null("").to_list()
        read = {r: read_review(t, catalog.vocabulary) for r, t in zip(rows, texts, strict=True)}
        out: dict[int, list[Finding]] = {}
        for case, row in frame.iter_rows():
            out.setdefault(case, []).extend(read[row])
        return out

    # ----------------------------------------------------------------- wording
    def _write(
        self,
        user: int,
        step: int,
        catalog: Catalog,
        categories: list[tuple],
        terms: list[tuple],
        items: list[tuple],
        findings: list[Finding],
        bought: dict[str, int],
    ) -> list[tuple[str, str, str]]:
        """``(text, polarity, kind)`` for one step, at most ``max_statements``. ``bought``:
        subject -> the user's first position with an item of it."""
        cfg = self.config

        def say(kind: str, **values: str) -> str:
            options = TEMPLATES[kind]
            pick = zlib.crc32(f"{cfg.seed}/{user}/{step}/{kind}".encode()) % len(options)
            return options[pick].format(**values)

        # The newest finding of each kind: the review closest to the step says it.
        heard = {f.kind: say(f.template, **dict(f.values)) for f in reversed(findings)}
        said = {k: [(k, heard[k])] if k in heard else [] for k in REVIEW_KINDS}

        positive: list[tuple[str, str]] = []
        negative: list[tuple[str, str]] = []
        noun, used = "products", set()
        if categories:
            path = categories[0][0]
            positive.append(("category", say("category", path=_display(path))))
            leaf = path.split(PATH_SEPARATOR)[-1]
            used = set(_words(path))
            noun = leaf.lower()  # "Looks for matte, creamy lipstick", "... western"
        positive += said["use"] + said["need"]
        words = _distinct(t[0] for t in terms if t[0] not in used)
        if words[:2]:
            positive.append(("terms", say("terms", terms=", ".join(words[:2]), noun=noun)))
        liked = [item for item, op in items if op == "liked"]
        disliked = list(dict.fromkeys(item for item, op in items if op == "disliked"))
        if liked:
            item = with_article(self._describe(catalog, liked[0]))
            positive.append(("liked", say("liked", item=item)))
        if cfg.include_brand:
            brands = Counter(catalog.brand[item] for item, _ in items if catalog.brand[item])
            if brands:
                brand = min(brands, key=lambda b: (-brands[b], b))
                positive.append(("brand", say("brand", brand=brand)))
        if words[2:4]:
            positive.append(("more_terms", say("more_terms", terms=" and ".join(words[2:4]))))
        negative += said["complaint"]
        for item in disliked[: max(0, 2 - len(negative))]:  # at most two negatives
            negative.append(("disliked", say("disliked", item=self._describe(catalog, item))))
        if cfg.contrast and not negative and positive:  # a contrast to what the user likes
            # Never a subject the user bought before the step: the window is part of that.
            fold = str.removesuffix  # "string" was bought when "strings" was
            root = next((r for r in catalog.roots if bought.get(fold(r, "s"), step) >= step), None)
            if root is not None:
                negative.append(("contrast", say("contrast", root=root)))
        negative = negative[: max(0, cfg.max_statements - 1)] if positive else negative
        positive = positive[: cfg.max_statements - len(negative)]
        kept = [(t, "positive", k) for k, t in positive] + [(t, "negative", k) for k, t in negative]
        return kept[: cfg.max_statements]

    def _describe(self, catalog: Catalog, item: int) -> str:
        """An item as its category leaf and its most telling term ("matte foundation"); where
        there is no category, the most common of its top three terms stands for the leaf
        ("snark tuner": common words name kinds, rare ones brands), "item" where there is
        neither."""
        leaf = catalog.leaf[item]
        if leaf is None and catalog.item_terms[item]:
            leaf = max(catalog.item_terms[item][:3], key=lambda w: catalog.vocabulary.get(w, 0))
        if leaf is None:
            return "item"
        stem = leaf.lower().removesuffix("s")
        words = [w for w in catalog.item_terms[item] if w.removesuffix("s") not in stem]
        return " ".join([*words[:1], leaf.lower()])


def _salient(
    window: pl.DataFrame, evidence: pl.DataFrame, keys: list[str], weight: str | None = None
) -> dict[int, list[tuple]]:
    """Per case, evidence rows shared by the window, most shared (then heaviest) first.

    ``evidence`` has ``item`` plus ``keys`` (and ``weight``); the result maps case ->
    ``[(key values..., n_items, score)]``, at most 8 per case.
    """
    score = pl.col(weight).sum() if weight else pl.len().cast(pl.Float64)
    ranked = (
        window.select("case", "item")
        .join(evidence, on="item")
        .group_by("case", *keys)
        .agg(pl.col("item").n_unique().alias("n"), score.alias("score"))
    )
    order = ["case", "n", *keys[1:], "score", keys[0]]
    descending = [False, True, *([True] * (len(keys) - 1)), True, False]
    ranked = ranked.sort(order, descending=descending).group_by("case", maintain_order=True).head(8)
    out: dict[int, list[tuple]] = {}
    for row in ranked.select("case", *keys, "n", "score").iter_rows():
        out.setdefault(row[0], []).append(row[1:])
    return out


def _first_bought(dataset: Dataset, steps: Steps, catalog: Catalog) -> dict[int, dict[str, int]]:
    """Per user of ``steps``, subject (a final "s" dropped) -> the first position of an item
    of it in their sequence: a subject is bought before step ``s`` iff that is below ``s``."""
    seqs = dataset.sequences()
    position = np.arange(len(seqs.items)) - np.repeat(seqs.offsets[:-1], seqs.lengths)
    subjects = pl.DataFrame(
        {"item": np.arange(dataset.n_items, dtype=np.int32), "subject": catalog.item_roots},
        schema={"item": pl.Int32, "subject": pl.List(pl.String)},
    ).explode("subject")
    subjects = subjects.with_columns(pl.col("subject").str.strip_suffix("s"))
    first = (
        pl.DataFrame({"user": np.repeat(np.arange(len(seqs)), seqs.lengths), "pos": position})
        .with_columns(item=pl.Series(seqs.items, dtype=pl.Int32))
        .filter(pl.col("user").is_in(np.unique(steps.users).tolist()))
        .join(subjects.drop_nulls(), on="item")
        .group_by("user", "subject")
        .agg(pl.col("pos").min())
    )
    out: dict[int, dict[str, int]] = {}
    for user, subject, pos in first.iter_rows():
        out.setdefault(user, {})[subject] = pos
    return out


def _distinct(words: Iterable[str]) -> list[str]:
    """``words`` without a second form of one ("pick" after "picks")."""
    seen: dict[str, str] = {}
    for word in words:
        seen.setdefault(word.removesuffix("s"), word)
    return list(seen.values())


def _display(path: str) -> str:
    """The last two levels of a category path: "Face > Creams & Moisturizers"."""
    return PATH_SEPARATOR.join(path.split(PATH_SEPARATOR)[-2:])


def _words(text: str) -> list[str]:
    return [w for w in text.lower().replace(">", " ").replace("&", " ").split() if w]
