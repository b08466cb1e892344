"""The five axes of Mender's preference benchmark (``genrec.recipes.bench_prefs``): the
requests of each, the lists a model answers them with, and their scores.

Every request keeps the case's own history:

1. preference: ``told`` (the protocol's statements) -> the case's target;
2. sentiment: where the data has ratings, Mender's cases (``genrec.prefs.sentiment_cases``: an
   item rated <= 2 stars, a negative statement from a window that held it, its positive twin,
   the history before it); elsewhere ``one`` (the first told statement) and its negative twin
   with the case's target. Combined success = the positive request ranks the target in the top
   k AND the negative one does not;
3. fine / 4. coarse steering: user A is paired with the user B whose test target is most /
   least similar (cosine of item text embeddings; a different item; ties to the lower case);
   A's history with B's ``told`` must retrieve B's target. The chance level is the same list
   without statements retrieving B's target;
5. consolidation: every statement of the step at once (negative ones as negatives), against
   ``one`` alone (``single``).

Each model is measured as given (statements reach it; popularity and SASRec ignore them), with
avoid enforced (``Avoiding``: the negative statements' items excluded), and, for a model that
follows statements, without any statement (``model_rows``). Violations: the share of top-10
items of requests with negative statements that those statements match. ``gain``: the
preference axis against the same model without statements, paired per user.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genrec.data.splits import EvalSet
from genrec.errors import DataError
from genrec.eval.harness import check_recommendations
from genrec.eval.metrics import ndcg_at_k, paired_bootstrap, ranks_from_topk, recall_at_k
from genrec.models.recommender import PAD, Recommender
from genrec.prefs.matching import AvoidMatcher, subject
from genrec.prefs.preference import Preference
from genrec.prefs.sentiment_cases import negative_twin, positive_twin
from genrec.prefs.statements import Statements
from genrec.recommend.avoid import Avoiding, merge_exclude

KS = (5, 10)


def partners(vectors: np.ndarray, targets: np.ndarray, similar: bool) -> np.ndarray:
    """Per case, the other case whose target is most (``similar``) or least similar by cosine of
    ``vectors [N, D]`` (unit rows of the cases' targets); cases with the same target item are
    never paired; ties go to the lower case; -1 when every case has the same target."""
    scores = vectors @ vectors.T
    same = targets[:, None] == targets[None, :]
    scores = np.where(same, -np.inf if similar else np.inf, scores)
    pick = scores.argmax(1) if similar else scores.argmin(1)
    return np.where(same.all(1), -1, pick)


@dataclass(frozen=True)
class Axes:
    """The benchmark's requests over the N test cases a protocol tells something: every
    request uses the case's ``histories [N, H]``; the lists of ``Preference`` hold each case's
    statements for one request set."""

    users: np.ndarray
    histories: np.ndarray
    targets: np.ndarray
    told: list[list[Preference]]  # the protocol's statements (preference-based, steering)
    one: list[list[Preference]]  # a single positive statement (consolidation's single)
    every: list[list[Preference]]  # every statement of the step, both polarities
    fine: np.ndarray  # [N] the partner case with the most similar target
    coarse: np.ndarray  # [N] ... the least similar target
    protocol: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.targets)

    def swapped(self, axis: str) -> list[list[Preference]]:
        """Per case, its ``fine`` or ``coarse`` partner's ``told`` statements."""
        return [self.told[b] if b >= 0 else [] for b in getattr(self, axis)]


def build_axes(
    test: EvalSet,
    steps: np.ndarray,
    statements: Statements,
    told: list[list[Preference]],
    one: Sequence[Preference | None],
    target_vectors: np.ndarray,
    protocol: str,
) -> Axes:
    """The axes over the test cases with a statement (``one[i]`` not None). ``told``/``one``:
    the protocol's statements per test case; ``target_vectors [N, D]``: unit text vectors of
    the test targets."""
    table = statements.table.sort("user", "step", "statement")
    grouped = table.group_by("user", "step", maintain_order=True).agg("text", "polarity")
    every = {  # a negative statement that names nothing ("avoids an item") cannot be enforced
        (u, s): [
            Preference(t, p, about="history")
            for t, p in zip(texts, pols, strict=True)
            if p == "positive" or subject(t)
        ]
        for u, s, texts, pols in grouped.iter_rows()
    }
    keep = np.flatnonzero([o is not None for o in one])
    if len(keep) < 2:
        raise DataError(
            f"the preference benchmark needs at least 2 test cases with a statement under "
            f"protocol {protocol}; found {len(keep)}: generate statements for the test steps "
            "(`genrec prefs generate <data>`) of this dataset"
        )
    targets = test.targets[keep]
    vectors = target_vectors[keep]
    return Axes(
        users=test.users[keep],
        histories=test.histories[keep],
        targets=targets,
        told=[told[i] for i in keep],
        one=[[one[i]] for i in keep],  # type: ignore[list-item]
        every=[every.get((int(test.users[i]), int(steps[i])), []) for i in keep],
        fine=partners(vectors, targets, similar=True),
        coarse=partners(vectors, targets, similar=False),
        protocol=protocol,
        counts={"test_cases": len(test), "cases": len(keep)},
    )


@dataclass(frozen=True)
class Sentiment:
    """The sentiment axis's requests: each case's ``histories [M, H]`` with a ``positive`` and
    a ``negative`` statement about its ``targets [M]``; ``valid [M]``: the cases that take
    part; ``names``: the request sets' names (``Lists``)."""

    histories: np.ndarray
    targets: np.ndarray
    positive: list[list[Preference]]
    negative: list[list[Preference]]
    valid: np.ndarray
    names: tuple[str, str]
    construction: str  # "rated_low" (Mender's) or "twin" (``one`` and its negative twin)


def twin_sentiment(axes: Axes) -> Sentiment:
    """``one`` and its negative twin with the case's target; a twin that names nothing ("Loved
    an item" -> "Avoids an") leaves its case out."""
    twins = [negative_twin(p[0].text) for p in axes.one]
    named = np.array([bool(subject(t)) for t in twins], dtype=bool)
    negative = [
        [Preference(t, "negative", about=p[0].about)] if ok else []
        for t, p, ok in zip(twins, axes.one, named, strict=True)
    ]
    p = axes.protocol
    return Sentiment(
        axes.histories, axes.targets, axes.one, negative, named, (f"{p}/one", f"{p}/twin"), "twin"
    )


def rated_low_sentiment(cases: EvalSet, negative: list[str]) -> Sentiment:
    """Mender's cases (``genrec.prefs.sentiment_cases.rated_low``): statements about the item
    the request should (positive twin) or should not (the negative statement) retrieve."""
    return Sentiment(
        cases.histories,
        cases.targets,
        [[Preference(positive_twin(t))] for t in negative],
        [[Preference(t, "negative")] for t in negative],
        np.ones(len(negative), dtype=bool),
        ("rated_low/positive", "rated_low/negative"),
        "rated_low",
    )


class Lists:
    """Top-10 lists of one model, decoded once per request set: a ``name`` and the histories
    it is asked for (requests without statements are all named ``plain``). With an ``avoid``
    matcher the items each request's negative statements match are excluded (``Avoiding``),
    and the harness's protocol check knows they were."""

    def __init__(
        self,
        model: Recommender,
        exclude_history: bool,
        avoid: AvoidMatcher | None = None,
        batch_size: int = 256,
    ) -> None:
        self.model = model
        self.exclude_history = exclude_history
        self.avoid = None if avoid is None else Avoiding(model, avoid)
        self.batch_size = batch_size
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def of(
        self,
        name: str,
        histories: np.ndarray,
        preferences: Sequence[Sequence[Preference]] | None,
    ) -> np.ndarray:
        """The lists ``[N, 10]`` for the request set ``name`` over ``histories [N, H]``."""
        key = (name, _digest(histories))
        if key not in self._cache:
            self._cache[key] = self._decode(histories, preferences)
        return self._cache[key]

    def share(self, name: str, histories: np.ndarray, lists: np.ndarray) -> None:
        """Reuse another variant's lists for requests on which both answer alike."""
        self._cache[(name, _digest(histories))] = lists

    def _decode(
        self, histories: np.ndarray, preferences: Sequence[Sequence[Preference]] | None
    ) -> np.ndarray:
        k = min(max(KS), int(self.model.n_items))
        out = []
        with torch.inference_mode():
            for start in range(0, len(histories), self.batch_size):
                rows = slice(start, start + self.batch_size)
                batch = torch.as_tensor(histories[rows])
                told = None if preferences is None else [list(p) for p in preferences[rows]]
                exclude = batch.clone() if self.exclude_history else None
                if self.avoid is not None:
                    exclude = merge_exclude(exclude, self.avoid.excluded(told, len(batch)))
                answer = self.model.recommend(batch, k, preferences=told, exclude=exclude)
                out.append(
                    check_recommendations(
                        self.model, answer, k=k, n_rows=len(batch), exclude=exclude, first_row=start
                    )
                )
        return np.concatenate(out)


def _digest(histories: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(histories).tobytes()).hexdigest()


def measure(
    lists: Lists,
    plain: Lists,
    axes: Axes,
    sentiment: Sentiment,
    matcher: AvoidMatcher,
    given: bool,
) -> dict[str, Any]:
    """Every axis for one model variant: ``lists`` decode its requests when the statements are
    ``given``, else the list without statements (``plain``) answers every request."""

    def items(name: str, histories: np.ndarray, prefs: list[list[Preference]]) -> np.ndarray:
        return lists.of(name, histories, prefs) if given else plain.of("plain", histories, None)

    p, histories = axes.protocol, axes.histories
    told = ranks_from_topk(items(f"{p}/told", histories, axes.told), axes.targets)
    out: dict[str, Any] = {"preference": _scores(told, "")}
    s = sentiment
    negative_lists = items(s.names[1], s.histories, s.negative)
    pos = ranks_from_topk(items(s.names[0], s.histories, s.positive), s.targets)[s.valid]
    neg = ranks_from_topk(negative_lists, s.targets)[s.valid]
    out["sentiment"] = {"construction": s.construction, "cases": int(s.valid.sum())}
    for k in KS:
        hit = (pos >= 0) & (pos < k) & ~((neg >= 0) & (neg < k))
        out["sentiment"][f"combined_recall@{k}"] = _mean(hit)
        out["sentiment"][f"combined_ndcg@{k}"] = _mean(ndcg_at_k(pos, k) * hit)
        out["sentiment"][f"positive_recall@{k}"] = _mean(recall_at_k(pos, k))
        out["sentiment"][f"negative_recall@{k}"] = _mean(recall_at_k(neg, k))
    for axis in ("fine", "coarse"):
        partner = getattr(axes, axis)
        ok = partner >= 0
        theirs = axes.targets[np.where(ok, partner, 0)]
        steered = ranks_from_topk(items(f"{p}/{axis}", histories, axes.swapped(axis)), theirs)
        chance = ranks_from_topk(plain.of("plain", histories, None), theirs)
        out[axis] = {
            **_scores(steered[ok], ""),
            **_scores(chance[ok], "chance_"),
            "pairs": int(ok.sum()),
        }
    every_lists = items(f"{p}/every", histories, axes.every)
    single = ranks_from_topk(items(f"{p}/one", histories, axes.one), axes.targets)
    out["consolidation"] = {
        **_scores(ranks_from_topk(every_lists, axes.targets), ""),
        **_scores(single, "single_"),
    }
    out["violations@10"] = violations(
        [(s.negative, negative_lists), (axes.every, every_lists)], matcher
    )
    return out


def _mean(values: np.ndarray) -> float:
    """The mean, nan without values (a benchmark with no sentiment cases) and no warning."""
    return float(values.mean()) if values.size else float("nan")


def _scores(ranks: np.ndarray, prefix: str) -> dict[str, float]:
    out = {}
    for k in KS:
        out[f"{prefix}recall@{k}"] = float(recall_at_k(ranks, k).mean())
        out[f"{prefix}ndcg@{k}"] = float(ndcg_at_k(ranks, k).mean())
    return out


def violations(
    requests: Sequence[tuple[list[list[Preference]], np.ndarray]], matcher: AvoidMatcher
) -> float:
    """Share of the top-10 items of the requests with negative statements (``(statements,
    lists)`` pairs) that one of the request's own negative statements matches."""
    bad = total = 0
    for prefs, lists in requests:
        negatives = [[p.text for p in case if p.polarity == "negative"] for case in prefs]
        for row, banned in enumerate(matcher.excluded(negatives)):
            if negatives[row]:
                real = lists[row][lists[row] != PAD]
                bad += int(np.isin(real, banned).sum())
                total += len(real)
    return bad / max(total, 1)


def gain(lists: Lists, axes: Axes) -> dict[str, Any]:
    """The preference axis under ``axes.protocol`` against the same model without statements
    on the same cases: each metric, its value without (``none_``), and the paired per-user
    difference with its 95% bootstrap interval (``delta_``: ``[diff, low, high]``)."""
    told = ranks_from_topk(
        lists.of(f"{axes.protocol}/told", axes.histories, axes.told), axes.targets
    )
    none = ranks_from_topk(lists.of("plain", axes.histories, None), axes.targets)
    out: dict[str, Any] = {"cases": len(axes)}
    for k in KS:
        for name, metric in (("recall", recall_at_k), ("ndcg", ndcg_at_k)):
            with_, without = metric(told, k), metric(none, k)
            out[f"{name}@{k}"] = float(with_.mean())
            out[f"none_{name}@{k}"] = float(without.mean())
            out[f"delta_{name}@{k}"] = list(paired_bootstrap(with_, without))
    return out


@dataclass(frozen=True)
class Model:
    """One model of the benchmark: a run (or the baseline) as a Recommender, with the decoded
    lists of its two variants (as given, and with avoid enforced)."""

    label: str  # the run directory, or "statement-only"
    name: str  # its family
    given: Lists
    enforced: Lists

    @property
    def follows(self) -> bool:
        return self.given.model.capabilities.reads_preferences


@dataclass(frozen=True)
class Row:
    """One model variant's line of the table."""

    run: str
    model: str
    statements: str  # given / none / ignored
    avoid: bool
    metrics: dict[str, Any]


def model_rows(model: Model, axes: Axes, sentiment: Sentiment, matcher: AvoidMatcher) -> list[Row]:
    """The variants of one model: as given, with avoid enforced, and (a model that follows
    statements) without statements. Requests without negative statements are decoded once."""
    given, enforced, p, h = model.given, model.enforced, axes.protocol, axes.histories
    if axes.one == axes.told:  # the protocol hands one statement (oracle): the same requests
        given.share(f"{p}/one", h, given.of(f"{p}/told", h, axes.told))
    for name, prefs in (
        ("told", axes.told),
        ("one", axes.one),
        ("fine", axes.swapped("fine")),
        ("coarse", axes.swapped("coarse")),
    ):
        enforced.share(f"{p}/{name}", h, given.of(f"{p}/{name}", h, prefs))
    positive = sentiment.names[0]
    enforced.share(
        positive, sentiment.histories, given.of(positive, sentiment.histories, sentiment.positive)
    )

    def row(lists: Lists, statements: str, avoid: bool, told: bool) -> Row:
        metrics = measure(lists, given, axes, sentiment, matcher, told)
        return Row(model.label, model.name, statements, avoid, metrics)

    label = "given" if model.follows else "ignored"
    rows = [row(given, label, False, True), row(enforced, label, True, True)]
    if model.follows:
        rows.append(row(given, "none", False, False))
    return rows
