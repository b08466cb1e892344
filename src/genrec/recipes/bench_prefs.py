"""The preference benchmark of Mender (Paischer et al., arXiv 2412.08604): five axes over the
test cases.

Every axis is built deterministically from a dataset's leave-one-out test cases and the
statements written for their steps, under one selection protocol (``genrec.prefs.protocols``):
``told`` are the positive statements the protocol hands the model (oracle: the one most similar
to the target; leak_free: all of the step's), ``one`` a single statement, the first of them
(oracle: the same; leak_free: the step's first positive one, chosen without the target). Only
cases whose step has a positive statement take part. Every request keeps the case's own
history:

1. preference: ``told`` -> the case's target;
2. sentiment: ``one`` and its negative twin ("Looks for warm strings" -> "Avoids warm
   strings"); combined success = the positive request ranks the target in the top k AND the
   negative one does not (over the cases whose twin names something: not "Loved an item");
3. fine / 4. coarse steering: user A is paired with the user B whose test target is most /
   least similar (cosine of item text embeddings; a different item; ties to the lower case);
   A's history with B's ``told`` must retrieve B's target. The chance level is the same list
   without statements retrieving B's target;
5. consolidation: every statement of the step at once (negative ones as negatives), against
   ``one`` alone (``single``).

Each model is measured as given (statements reach it; popularity and SASRec ignore them), with
avoid enforced (``Avoiding``: the negative statements' items excluded), and, for a model that
follows statements, without any statement. Violations: the share of top-10 items of requests
with negative statements that those statements match.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from genrec.atomic import atomic_file
from genrec.data.splits import EvalSet
from genrec.errors import ConfigError, DataError
from genrec.eval.harness import check_recommendations
from genrec.eval.metrics import ndcg_at_k, ranks_from_topk, recall_at_k
from genrec.models.recommender import PAD, Recommender
from genrec.prefs.matching import AvoidMatcher, MatchConfig, avoid_matcher, subject
from genrec.prefs.preference import Preference
from genrec.prefs.protocols import PROTOCOLS, protocol
from genrec.prefs.selection import Cases, StepStatements, preferences, target_steps
from genrec.prefs.statements import Statements
from genrec.prefs.store import load_statements
from genrec.prefs.threshold import CALIBRATION, read_calibration
from genrec.prefs.vectors import statement_encoder
from genrec.recipes.binding import TrainedOn, check_trained_on
from genrec.recipes.evaluate import load_run
from genrec.recipes.recipe import Recipe
from genrec.recommend.avoid import Avoiding, merge_exclude
from genrec.text.cache import item_embeddings

KS = (5, 10)
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
    """The benchmark's requests over N test cases with a positive statement: every request
    uses the case's ``histories [N, H]``; the lists of ``Preference`` hold each case's
    statements for one request set."""

    users: np.ndarray
    histories: np.ndarray
    targets: np.ndarray
    told: list[list[Preference]]  # the protocol's statements (preference-based, steering)
    one: list[list[Preference]]  # a single positive statement (sentiment, consolidation)
    twin: list[list[Preference]]  # its negative twin ([] where it would name nothing)
    sentiment: np.ndarray  # [N] bool: the case has a twin (the sentiment axis's cases)
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
    one: list[str | None],
    target_vectors: np.ndarray,
    protocol: str,
    users: int | None = None,
) -> Axes:
    """The axes over the test cases whose step has a positive statement (``one[i]`` not None),
    the first ``users`` of them when given. ``told``/``one``: the protocol's statements per
    test case; ``target_vectors [N, D]``: unit text vectors of the test targets."""
    table = statements.table.sort("user", "step", "statement")
    grouped = table.group_by("user", "step", maintain_order=True).agg("text", "polarity")
    every = {  # a negative statement that names nothing ("avoids an item") cannot be enforced
        (u, s): [
            Preference(t, p)
            for t, p in zip(texts, pols, strict=True)
            if p == "positive" or subject(t)
        ]
        for u, s, texts, pols in grouped.iter_rows()
    }
    keep = np.flatnonzero([o is not None for o in one])
    if users is not None:
        keep = keep[:users]
    if len(keep) < 2:
        raise DataError(
            f"the preference benchmark needs at least 2 test cases with a positive statement; "
            f"found {len(keep)}: generate statements for the test steps (`genrec prefs "
            "generate <data>`) of this dataset"
        )
    targets = test.targets[keep]
    vectors = target_vectors[keep]
    positive = [str(one[i]) for i in keep]
    twins = [negative_twin(text) for text in positive]  # "Loved an item" names nothing
    named = np.array([bool(subject(text)) for text in twins])
    return Axes(
        users=test.users[keep],
        histories=test.histories[keep],
        targets=targets,
        told=[told[i] for i in keep],
        one=[[Preference(text)] for text in positive],
        twin=[
            [Preference(text, "negative")] if ok else []
            for text, ok in zip(twins, named, strict=True)
        ],
        sentiment=named,
        every=[every.get((int(test.users[i]), int(steps[i])), []) for i in keep],
        fine=partners(vectors, targets, similar=True),
        coarse=partners(vectors, targets, similar=False),
        protocol=protocol,
        counts={
            "test_cases": len(test),
            "cases": len(keep),
            "sentiment_cases": int(named.sum()),
        },
    )


class Lists:
    """Top-10 lists of one model for the axes' histories, one decode per request set. With an
    ``avoid`` matcher the items each request's negative statements match are excluded
    (``Avoiding``), and the harness's protocol check knows they were."""

    def __init__(
        self,
        model: Recommender,
        axes: Axes,
        exclude_history: bool,
        avoid: AvoidMatcher | None = None,
        batch_size: int = 256,
    ) -> None:
        self.model = model
        self.axes = axes
        self.exclude_history = exclude_history
        self.avoid = None if avoid is None else Avoiding(model, avoid)
        self.batch_size = batch_size
        self._cache: dict[str, np.ndarray] = {}

    def of(self, name: str, preferences: Sequence[Sequence[Preference]] | None) -> np.ndarray:
        """The lists ``[N, 10]`` for the request set ``name`` (decoded on first use)."""
        if name not in self._cache:
            self._cache[name] = self._decode(preferences)
        return self._cache[name]

    def _decode(self, preferences: Sequence[Sequence[Preference]] | None) -> np.ndarray:
        k = min(max(KS), int(self.model.n_items))
        out = []
        with torch.inference_mode():
            for start in range(0, len(self.axes), self.batch_size):
                rows = slice(start, start + self.batch_size)
                histories = torch.as_tensor(self.axes.histories[rows])
                told = None if preferences is None else [list(p) for p in preferences[rows]]
                exclude = histories.clone() if self.exclude_history else None
                if self.avoid is not None:
                    exclude = merge_exclude(exclude, self.avoid.excluded(told, len(histories)))
                answer = self.model.recommend(histories, k, preferences=told, exclude=exclude)
                out.append(
                    check_recommendations(
                        self.model,
                        answer,
                        k=k,
                        n_rows=len(histories),
                        exclude=exclude,
                        first_row=start,
                    )
                )
        return np.concatenate(out)

    def share(self, name: str, lists: np.ndarray) -> None:
        """Reuse another variant's lists for requests on which both answer alike."""
        self._cache[name] = lists


def measure(lists: Lists, plain: Lists, matcher: AvoidMatcher, given: bool) -> dict[str, Any]:
    """Every axis for one model variant: ``lists`` decode its requests when the statements are
    ``given``, else the list without statements (``plain``) answers every request."""
    axes = lists.axes

    def items(name: str, prefs: list[list[Preference]]) -> np.ndarray:
        return lists.of(name, prefs) if given else plain.of("plain", None)

    out: dict[str, Any] = {
        "preference": _scores(ranks_from_topk(items("told", axes.told), axes.targets), "")
    }
    pos = ranks_from_topk(items("one", axes.one), axes.targets)
    neg = ranks_from_topk(items("twin", axes.twin), axes.targets)
    sentiment = {}
    pos_s, neg_s = pos[axes.sentiment], neg[axes.sentiment]
    for k in KS:
        hit = (pos_s >= 0) & (pos_s < k) & ~((neg_s >= 0) & (neg_s < k))
        sentiment[f"combined_recall@{k}"] = float(hit.mean())
        sentiment[f"combined_ndcg@{k}"] = float((ndcg_at_k(pos_s, k) * hit).mean())
        sentiment[f"positive_recall@{k}"] = float(recall_at_k(pos_s, k).mean())
        sentiment[f"negative_recall@{k}"] = float(recall_at_k(neg_s, k).mean())
    out["sentiment"] = sentiment
    for axis in ("fine", "coarse"):
        partner = getattr(axes, axis)
        ok = partner >= 0
        theirs = axes.targets[np.where(ok, partner, 0)]
        steered = ranks_from_topk(items(axis, axes.swapped(axis)), theirs)[ok]
        chance = ranks_from_topk(plain.of("plain", None), theirs)[ok]
        out[axis] = {**_scores(steered, ""), **_scores(chance, "chance_"), "pairs": int(ok.sum())}
    every = ranks_from_topk(items("every", axes.every), axes.targets)
    out["consolidation"] = {**_scores(every, ""), **_scores(pos, "single_")}
    out["violations@10"] = violations(
        [(axes.twin, items("twin", axes.twin)), (axes.every, items("every", axes.every))], matcher
    )
    return out


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


@dataclass(frozen=True)
class Row:
    """One model variant's line of the table."""

    run: str
    model: str
    statements: str  # given / none / ignored
    avoid: bool
    metrics: dict[str, Any]


def run_benchmark(
    runs: Sequence[str | Path],
    protocols: Sequence[str] = tuple(PROTOCOLS),
    *,
    statements: str | Path | None = None,
    users: int | None = None,
    same_cases: Sequence[str | Path] = (),
    match: MatchConfig | None = None,
) -> dict[str, dict[str, Any]]:
    """Measure every run (finished, on one dataset and split) on the five axes under each of
    ``protocols``; -> per protocol the JSON-able report (``rows``, ``counts``, settings).
    ``same_cases``: other statements folders; only the test cases whose step has a positive
    statement in each of them too take part, so two generators compare on the same cases."""
    if not runs:
        raise ConfigError("bench prefs: give at least one run directory")
    for name in protocols:
        protocol(name, "bench prefs: protocol")
    loaded = [(str(path), *load_run(path)) for path in runs]
    first, recipe, dataset, split, _ = loaded[0]
    for path, other, data, _, _ in loaded[1:]:
        check_trained_on(
            path,
            TrainedOn.of(data, other.data),
            f"{first} was trained on",
            TrainedOn.of(dataset, recipe.data),
            "benchmark runs of the same data and split.",
        )
    source = statements or next(
        (r.prefs.statements for _, r, *_ in loaded if r.prefs.statements), None
    )
    if not source:
        raise ConfigError(
            "bench prefs: none of the runs names prefs.statements; pass statements=DIR (a "
            "folder from `genrec prefs generate <data> steps=all`)"
        )
    follower = next((r for _, r, *_ in loaded if r.prefs.statements), recipe)
    told_statements = load_statements(source, dataset)
    encoder = statement_encoder(follower.prefs.encoder)
    matcher = avoid_matcher(dataset, match or _calibration(runs), encoder=encoder.encoder)
    item_vectors = item_embeddings(dataset, encoder=encoder.encoder, progress=False)
    test = replace(split.test, preferences=None)
    steps = target_steps(dataset, test.users, test.histories, test.targets)
    cases = Cases(test.users, steps, test.targets)
    step_statements = StepStatements.of(told_statements, encoder)
    shared = _covered(cases, [load_statements(f, dataset) for f in same_cases])
    reports = {}
    for name in protocols:
        chosen = protocol(name)(step_statements, item_vectors, cases)
        told = preferences(step_statements, chosen)
        first = np.where(shared, chosen[:, 0], -1).tolist()  # a single statement: the first
        one = [step_statements.texts[c] if c >= 0 else None for c in first]
        vectors = item_vectors[test.targets]
        axes = build_axes(test, steps, told_statements, told, one, vectors, name, users)
        rows = []
        for path, run_recipe, _, _, model in loaded:
            rows += _rows(path, run_recipe, model, axes, matcher)
        reports[name] = {
            "protocol": name,
            "dataset": dataset.fingerprint,
            "statements": str(source),
            "same_cases": [str(f) for f in same_cases],
            "avoid_threshold": matcher.threshold,
            "counts": axes.counts,
            "rows": [dataclasses.asdict(row) for row in rows],
        }
    return reports


def _rows(
    path: str, recipe: Recipe, model: Recommender, axes: Axes, matcher: AvoidMatcher
) -> list[Row]:
    """The variants of one run: as given, with avoid enforced, and (a model that follows
    statements) without statements. Requests without negative statements are decoded once."""
    exclude = recipe.eval.exclude_history
    follows = model.capabilities.reads_preferences
    given = Lists(model, axes, exclude)
    enforced = Lists(model, axes, exclude, avoid=matcher)
    if axes.one == axes.told:  # the protocol hands one statement (oracle): the same requests
        given.share("one", given.of("told", axes.told))
    for name, prefs in (("told", axes.told), ("one", axes.one)):
        enforced.share(name, given.of(name, prefs))
    for axis in ("fine", "coarse"):
        enforced.share(axis, given.of(axis, axes.swapped(axis)))
    label = "given" if follows else "ignored"
    rows = [
        Row(path, recipe.model, label, False, measure(given, given, matcher, True)),
        Row(path, recipe.model, label, True, measure(enforced, given, matcher, True)),
    ]
    if follows:
        rows.append(Row(path, recipe.model, "none", False, measure(given, given, matcher, False)))
    return rows


def _covered(cases: Cases, others: Sequence[Statements]) -> np.ndarray:
    """``[N]`` bool: the cases whose step has a positive statement in every one of ``others``."""
    frame = pl.DataFrame(
        {"user": cases.users, "step": cases.steps}, schema={"user": pl.Int32, "step": pl.Int32}
    ).with_row_index("case")
    keep = np.ones(len(cases.users), dtype=bool)
    for other in others:
        positive = other.table.filter(pl.col("polarity") == "positive").select("user", "step")
        found = frame.join(positive.unique(), on=["user", "step"], how="semi")["case"]
        covered = np.zeros(len(cases.users), dtype=bool)
        covered[found.to_numpy()] = True
        keep &= covered
    return keep


def _calibration(runs: Sequence[str | Path]) -> MatchConfig:
    """The first run's ``avoid.json`` when it has one, else the default matching."""
    found = [Path(r) / CALIBRATION for r in runs if (Path(r) / CALIBRATION).is_file()]
    return read_calibration(found[0])[0] if found else MatchConfig()


def markdown(report: dict[str, Any]) -> str:
    """The report as one markdown table (@10; @5 and NDCG are in the JSON)."""
    head = (
        "| run | model | statements | avoid | pref R@10 | pref N@10 | sentiment combined R@10 "
        "(pos / neg R@10) | fine R@10 (chance) | coarse R@10 (chance) | consolidation R@10 "
        "(single) | violations@10 |"
    )
    lines = [
        f"Protocol `{report['protocol']}`: {report['counts']['cases']} of "
        f"{report['counts']['test_cases']} test cases with a positive statement; avoid "
        f"threshold {report['avoid_threshold']:.3f}.",
        "",
        head,
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        m = row["metrics"]
        s, f, c, h = m["sentiment"], m["fine"], m["coarse"], m["consolidation"]
        lines.append(
            f"| {Path(row['run']).name} | {row['model']} | {row['statements']} | "
            f"{'on' if row['avoid'] else 'off'} | {m['preference']['recall@10']:.4f} | "
            f"{m['preference']['ndcg@10']:.4f} | {s['combined_recall@10']:.4f} "
            f"({s['positive_recall@10']:.4f} / {s['negative_recall@10']:.4f}) | "
            f"{f['recall@10']:.4f} ({f['chance_recall@10']:.4f}) | "
            f"{c['recall@10']:.4f} ({c['chance_recall@10']:.4f}) | "
            f"{h['recall@10']:.4f} ({h['single_recall@10']:.4f}) | "
            f"{m.get('violations@10', float('nan')):.4f} |"
        )
    return "\n".join(lines) + "\n"


def write_reports(reports: dict[str, dict[str, Any]], out: str | Path) -> list[Path]:
    """``prefs-<protocol>.json`` and ``.md`` per protocol in ``out``, each atomically."""
    written = []
    for name, report in reports.items():
        for suffix, text in (
            ("json", json.dumps(report, indent=2) + "\n"),
            ("md", markdown(report)),
        ):
            path = Path(out) / f"prefs-{name}.{suffix}"
            with atomic_file(path) as tmp:
                tmp.write_text(text)
            written.append(path)
    return written
