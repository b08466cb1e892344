"""The preference benchmark of Mender (Paischer et al., arXiv 2412.08604): five axes over the
test cases (``genrec.recipes.bench_axes``), under each selection protocol, with the protocols
side by side and SteerEval's exposure beside them.

The cases are the leave-one-out test cases whose step has a positive statement in the folder
(and in every ``same_cases`` folder; the first ``users`` of them). Under each protocol
(``genrec.prefs.protocols``) a case is ``told`` the statements the protocol hands it (leak_free:
all of its step's; oracle: the one most similar to the target; describes_target: the pool's
statement nearest the target; category: "Looking for <its category>"); cases it tells nothing
take no part in its axes and are counted. The models are the runs and the statement-only
baseline (``genrec.recommend.statement_only``). ``protocols``: per model and protocol the
preference axis against the same model without statements on the same cases, with a paired
bootstrap interval on the difference. ``exposure``: the share of the top 10 inside a common or a
niche category, without a statement, looking for it and avoiding it (``genrec.eval.exposure``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from genrec.atomic import atomic_file
from genrec.data.dataset import Dataset
from genrec.data.splits import EvalSet
from genrec.errors import ConfigError, DataError
from genrec.eval.exposure import assign, exposure_categories, share
from genrec.eval.metrics import paired_bootstrap
from genrec.models.recommender import Recommender
from genrec.prefs.catalog import build_catalog
from genrec.prefs.matching import AvoidMatcher, MatchConfig, avoid_matcher
from genrec.prefs.preference import Preference
from genrec.prefs.protocols import PROTOCOLS, protocol
from genrec.prefs.protocols.category import looking_for
from genrec.prefs.selection import Cases, StepStatements, preferences, target_steps
from genrec.prefs.sentiment_cases import generator_window, has_ratings, rated_low
from genrec.prefs.statements import Statements
from genrec.prefs.store import load_statements, read_manifest
from genrec.prefs.threshold import CALIBRATION, read_calibration
from genrec.prefs.vectors import StatementEncoder, statement_encoder
from genrec.recipes.bench_axes import (
    Lists,
    Model,
    Sentiment,
    build_axes,
    gain,
    model_rows,
    rated_low_sentiment,
    twin_sentiment,
)
from genrec.recipes.bench_report import markdown
from genrec.recipes.binding import TrainedOn, check_trained_on
from genrec.recipes.evaluate import item_template, load_run
from genrec.recommend.statement_only import StatementOnly
from genrec.text.cache import item_embeddings


def exposure(models: Sequence[Model], histories: np.ndarray, dataset: Dataset) -> dict[str, Any]:
    """Per model, the share of its top 10 inside a category without a statement, "Looking for"
    it and "Avoid" it, for one common and one niche category per case (``genrec.eval.exposure``;
    drawn with a fixed seed)."""
    categories = exposure_categories(build_catalog(dataset), dataset.n_items)
    if not len(categories.common):
        return {"section": "exposure", "categories": {"common": 0, "niche": 0}, "rows": []}
    drawn = {
        c: assign(len(histories), getattr(categories, c), seed)
        for seed, c in enumerate(("common", "niche"))
    }
    rows = []
    for model in models:
        row: dict[str, Any] = {"run": model.label, "model": model.name}
        for kind, category in drawn.items():
            names = [categories.names[c] for c in category]
            none = share(model.given.of("plain", histories, None), categories.members, category)
            row[kind] = {"none": float(none.mean())}
            for say, prefs in (
                ("looking_for", [[Preference(looking_for(n))] for n in names]),
                ("avoid", [[Preference(f"Avoid {n}", "negative")] for n in names]),
            ):
                lists = model.given.of(f"exposure/{kind}/{say}", histories, prefs)
                shares = share(lists, categories.members, category)
                row[kind][say] = float(shares.mean())
                row[kind][f"delta_{say}"] = list(paired_bootstrap(shares, none))
        rows.append(row)
    return {
        "section": "exposure",
        "cases": len(histories),
        "categories": {c: len(getattr(categories, c)) for c in ("common", "niche")},
        "rows": rows,
    }


@dataclass(frozen=True)
class Bench:
    """What every protocol's measurement shares: the test cases (those of the benchmark:
    ``common [N]``), the statements folder, item vectors, the models and the matcher."""

    dataset: Dataset
    test: EvalSet
    cases: Cases
    statements: Statements
    folder: StepStatements
    common: np.ndarray
    item_vectors: np.ndarray
    encoder: StatementEncoder
    matcher: AvoidMatcher
    models: list[Model]
    rated: Sentiment | None  # Mender's sentiment cases where the data has ratings
    settings: dict[str, Any]  # what the reports record of how they were made


def run_benchmark(
    runs: Sequence[str | Path],
    protocols: Sequence[str] = tuple(PROTOCOLS),
    *,
    statements: str | Path | None = None,
    users: int | None = None,
    same_cases: Sequence[str | Path] = (),
    match: MatchConfig | None = None,
) -> dict[str, dict[str, Any]]:
    """Measure every run (finished, on one dataset and split) and the statement-only baseline
    on the five axes under each of ``protocols``; -> per protocol the JSON-able report (``rows``,
    ``counts``, settings), and the ``protocols`` and ``exposure`` sections. ``same_cases``:
    other statements folders; only the test cases whose step has a positive statement in each
    of them too take part, so two generators compare on the same cases."""
    if not runs:
        raise ConfigError("bench prefs: give at least one run directory")
    for name in protocols:
        protocol(name, "bench prefs: protocol")
    bench = prepare(runs, statements, users, same_cases, match)
    reports: dict[str, dict[str, Any]] = {}
    gains: dict[str, dict[str, Any]] = {m.label: {} for m in bench.models}
    for name in protocols:
        reports[name] = protocol_report(bench, name, gains)
    reports["protocols"] = {
        "section": "protocols",
        **bench.settings,
        "cases": int(bench.common.sum()),
        "sees_target": {name: protocol(name).sees_target for name in protocols},
        "rows": [
            {"run": m.label, "model": m.name, "protocols": gains[m.label]} for m in bench.models
        ],
    }
    histories = bench.test.histories[bench.common]
    reports["exposure"] = {**exposure(bench.models, histories, bench.dataset), **bench.settings}
    return reports


def prepare(
    runs: Sequence[str | Path],
    statements: str | Path | None,
    users: int | None,
    same_cases: Sequence[str | Path],
    match: MatchConfig | None,
) -> Bench:
    """Load the runs (checked to share data and split), the statements and the benchmark's
    cases; add the statement-only baseline beside the runs' models."""
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
    told = load_statements(source, dataset)
    encoder = statement_encoder(follower.prefs.encoder)
    matcher = avoid_matcher(dataset, match or _calibration(runs), encoder=encoder.encoder)
    # Items in the text the follower's semantic IDs (else the first run's with IDs) read.
    with_ids = next((r for r in (follower, *(r for _, r, *_ in loaded)) if r.ids), follower)
    template = item_template(with_ids)
    item_vectors = item_embeddings(dataset, template, encoder=encoder.encoder, progress=False)
    test = replace(split.test, preferences=None)
    steps = target_steps(dataset, test.users, test.histories, test.targets)
    cases = Cases(test.users, steps, test.targets, "test")
    folder = StepStatements.of(told, encoder)
    common = _common_cases(folder, cases, [load_statements(f, dataset) for f in same_cases], users)
    if common.sum() < 2:
        raise DataError(
            f"the preference benchmark needs at least 2 test cases with a positive statement; "
            f"found {int(common.sum())}: generate statements for the test steps (`genrec prefs "
            "generate <data>`) of this dataset"
        )
    counts = np.bincount(split.train.items, minlength=split.n_items)
    baseline = StatementOnly(item_vectors, counts, encoder, follower.prefs.max_statements)
    exclude = recipe.eval.exclude_history
    models = [_model(p, r.model, m, r.eval.exclude_history, matcher) for p, r, _, _, m in loaded]
    models.append(_model("statement-only", "statement_only", baseline, exclude, matcher))
    rated = _rated_low(dataset, told, source, test, common, item_vectors, encoder)
    settings = {
        "dataset": dataset.fingerprint,
        "statements": str(source),
        "same_cases": [str(f) for f in same_cases],
        "item_template": template.to_dict(),
    }
    return Bench(
        dataset,
        test,
        cases,
        told,
        folder,
        common,
        item_vectors,
        encoder,
        matcher,
        models,
        rated,
        settings,
    )


def protocol_report(bench: Bench, name: str, gains: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The five axes of every model under protocol ``name``; each model's ``gain`` goes into
    ``gains[label][name]``. A protocol that tells fewer than 2 of the cases anything (category
    on a catalog without shared categories) is reported without rows."""
    entry = protocol(name)
    pool = entry.pool(bench.folder, bench.dataset, bench.encoder)
    told = preferences(pool, entry.choose(pool, bench.item_vectors, bench.cases), entry.about)
    one = [t[0] if ok and t else None for t, ok in zip(told, bench.common, strict=True)]
    n_told = sum(o is not None for o in one)
    counts = {
        "test_cases": len(bench.test),
        "cases": n_told,
        "without_statement": int(bench.common.sum()) - n_told,
    }
    report = {
        "section": "axes",
        "protocol": name,
        "about": entry.about,
        "sees_target": entry.sees_target,
        **bench.settings,
        "avoid_threshold": bench.matcher.threshold,
        "counts": counts,
        "rows": [],
    }
    if n_told < 2:
        for model in bench.models:
            gains[model.label][name] = {
                "cases": n_told,
                "without_statement": counts["without_statement"],
            }
        return report
    target_vectors = bench.item_vectors[bench.test.targets]
    axes = build_axes(
        bench.test, bench.cases.steps, bench.statements, told, one, target_vectors, name
    )
    sentiment = bench.rated or twin_sentiment(axes)
    rows = []
    for model in bench.models:
        rows += model_rows(model, axes, sentiment, bench.matcher)
        without = counts["without_statement"]
        gains[model.label][name] = {**gain(model.given, axes), "without_statement": without}
    counts["sentiment_cases"] = int(sentiment.valid.sum())
    report["sentiment"] = sentiment.construction
    report["rows"] = [dataclasses.asdict(row) for row in rows]
    return report


def _model(
    label: str, name: str, model: Recommender, exclude: bool, matcher: AvoidMatcher
) -> Model:
    return Model(label, name, Lists(model, exclude), Lists(model, exclude, avoid=matcher))


def _rated_low(
    dataset: Dataset,
    statements: Statements,
    source: str | Path,
    test: EvalSet,
    common: np.ndarray,
    item_vectors: np.ndarray,
    encoder: StatementEncoder,
) -> Sentiment | None:
    """Mender's sentiment cases for the benchmark's users where the data has ratings."""
    if not has_ratings(dataset):
        return None
    window = generator_window(read_manifest(source))
    found, negative = rated_low(
        dataset,
        statements,
        test.users[common],
        item_vectors,
        encoder,
        window,
        test.histories.shape[1],
    )
    return rated_low_sentiment(found, negative)


def _common_cases(
    folder: StepStatements, cases: Cases, others: Sequence[Statements], users: int | None
) -> np.ndarray:
    """``[N]`` bool: the benchmark's cases, those whose step has a positive statement in the
    folder and in every one of ``others`` (the first ``users`` of them when given)."""
    frame = pl.DataFrame(
        {"user": cases.users, "step": cases.steps}, schema={"user": pl.Int32, "step": pl.Int32}
    ).with_row_index("case")
    keep = np.ones(len(cases.users), dtype=bool)
    for table in (folder.rows, *(o.table.filter(pl.col("polarity") == "positive") for o in others)):
        found = frame.join(table.select("user", "step").unique(), on=["user", "step"], how="semi")
        covered = np.zeros(len(cases.users), dtype=bool)
        covered[found["case"].to_numpy()] = True
        keep &= covered
    if users is not None:
        keep[np.flatnonzero(keep)[users:]] = False
    return keep


def _calibration(runs: Sequence[str | Path]) -> MatchConfig:
    """The first run's ``avoid.json`` when it has one, else the default matching."""
    found = [Path(r) / CALIBRATION for r in runs if (Path(r) / CALIBRATION).is_file()]
    return read_calibration(found[0])[0] if found else MatchConfig()


def write_reports(reports: dict[str, dict[str, Any]], out: str | Path) -> list[Path]:
    """``prefs-<name>.json`` and ``.md`` per report (each protocol, ``protocols``,
    ``exposure``) in ``out``, each atomically."""
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
