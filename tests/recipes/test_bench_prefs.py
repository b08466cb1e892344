"""The preference benchmark: axes built deterministically, stub models at the two extremes, and
`genrec bench prefs` end to end on a tiny run."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest
import torch
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.config import load_config
from genrec.data.splits import EvalSet
from genrec.data.windows import PAD
from genrec.errors import ConfigError
from genrec.prefs.matching import AvoidMatcher
from genrec.prefs.preference import Preference, as_preferences
from genrec.prefs.sentiment_cases import negative_twin
from genrec.prefs.statements import SCHEMA, Statements
from genrec.recipes.bench_axes import Lists, build_axes, measure, partners, twin_sentiment
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train

from ..prefs.conftest import make_rated_dataset

runner = CliRunner()
N_ITEMS = 20
NAMED = re.compile(r"item (\d+)")


class Ignoring:
    """Ranks items 0, 1, 2, ... whatever it is told (popularity-like)."""

    n_items = N_ITEMS

    def recommend(self, histories, k, preferences=None, exclude=None):
        order = [list(range(N_ITEMS)) for _ in histories]
        return _top(order, k, exclude)


class Following:
    """Puts the items its positive statements name first and drops those negative ones name;
    otherwise ranks items from the back of the catalog."""

    n_items = N_ITEMS

    def recommend(self, histories, k, preferences=None, exclude=None):
        told = as_preferences(preferences, len(histories))
        order = []
        for user in told:
            wanted = [
                int(n) for p in user if p.polarity == "positive" for n in NAMED.findall(p.text)
            ]
            avoided = {
                int(n) for p in user if p.polarity == "negative" for n in NAMED.findall(p.text)
            }
            rest = [i for i in reversed(range(N_ITEMS)) if i not in wanted]
            order.append([i for i in wanted + rest if i not in avoided])
        return _top(order, k, exclude)


def _top(order, k, exclude):
    rows = []
    for row, items in enumerate(order):
        banned = set() if exclude is None else set(exclude[row].tolist())
        kept = [i for i in items if i not in banned][:k]
        rows.append(kept + [PAD] * (k - len(kept)))
    items = torch.tensor(rows)
    return items, -torch.arange(k, dtype=torch.float).expand(len(rows), k).clone()


def _statements(rows):
    frame = pl.DataFrame(
        rows, schema=["user", "step", "statement", "text", "polarity"], orient="row"
    )
    frame = frame.with_columns(
        user_id=pl.col("user").cast(pl.String), kind=None, generator=pl.lit("t")
    )
    return Statements(frame.select(pl.col(c).cast(t) for c, t in SCHEMA.items()))


def _axes(protocol="oracle"):
    """Six cases; targets 0, 1, 2 are alike and 3, 4, 5 are alike (two orthogonal groups).
    Case 5's step has no positive statement: it takes no part."""
    targets = np.array([0, 1, 2, 3, 4, 5])
    test = EvalSet(
        users=np.arange(6),
        histories=np.array([[PAD, 10 + u] for u in range(6)]),
        targets=targets,
    )
    steps = np.full(6, 1)
    rows = [(u, 1, 0, f"Looks for item {t}", "positive") for u, t in enumerate(targets[:5])]
    rows += [(u, 1, 1, "Avoids item 9", "negative") for u in range(6)]
    rows += [(u, 1, 2, "Avoids an item", "negative") for u in range(6)]  # names nothing: dropped
    one = [Preference(f"Looks for item {t}") for t in targets[:5]] + [None]
    told = [[p] if p else [] for p in one]
    vectors = np.array([[1, 0.1 * i, 0] if i < 3 else [0, 0.1 * i, 1] for i in range(6)], "f4")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return build_axes(test, steps, _statements(rows), told, one, vectors, protocol)


def _measure(model, axes, given=True, avoid=None, plain=None):
    lists = Lists(model, exclude_history=False, avoid=avoid)
    plain = plain or lists
    return measure(lists, plain, axes, twin_sentiment(axes), _matcher(), given)


def _matcher():
    texts = [f"item {i}" for i in range(N_ITEMS)]
    vectors = np.eye(N_ITEMS, dtype="f4")
    return AvoidMatcher(texts, vectors, lambda s: np.zeros((len(s), N_ITEMS), "f4"), threshold=1.0)


def test_the_negative_twin_avoids_what_the_positive_looks_for():
    assert negative_twin("Looks for warm, bright strings") == "Avoids warm, bright strings"
    assert negative_twin("Prefers products from the Guitar Strings category") == (
        "Avoids Guitar Strings"
    )
    assert negative_twin("Rated a capo highly and wants more like it") == "Avoids a capo"
    assert negative_twin("Is drawn to Effects Pedals items") == "Avoids Effects Pedals"
    assert negative_twin("fragrance-free sunscreen") == "Avoids fragrance-free sunscreen"
    assert negative_twin("Loved an item") == "Avoids an"  # names nothing: no twin


def test_a_statement_that_names_nothing_has_no_twin_and_leaves_the_sentiment_axis():
    test = EvalSet(np.arange(3), np.array([[PAD, 9]] * 3), np.array([0, 1, 2]))
    one = [Preference(t) for t in ("Looks for item 0", "Loved an item", "Looks for item 2")]
    told = [[p] for p in one]
    vectors = np.eye(3, dtype="f4")
    axes = build_axes(test, np.ones(3, int), _statements([]), told, one, vectors, "oracle")
    sentiment = twin_sentiment(axes)
    assert sentiment.valid.tolist() == [True, False, True] and sentiment.negative[1] == []
    assert sentiment.construction == "twin" and sentiment.names == ("oracle/one", "oracle/twin")
    m = _measure(Following(), axes)
    assert m["sentiment"]["combined_recall@10"] == 1.0  # over the two cases with a twin
    assert m["sentiment"]["cases"] == 2


def test_pairs_are_the_most_and_least_similar_other_target():
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [1, 0]], "f4")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    targets = np.array([7, 8, 9, 7])  # cases 0 and 3 share their target: never a pair
    assert partners(vectors, targets, similar=True).tolist() == [1, 0, 1, 1]
    assert partners(vectors, targets, similar=False).tolist() == [2, 2, 0, 2]
    assert partners(vectors[:1].repeat(2, 0), np.array([1, 1]), similar=True).tolist() == [-1, -1]


def test_axes_are_built_deterministically_from_cases_and_statements():
    axes = _axes()
    assert axes.counts == {"test_cases": 6, "cases": 5}
    assert axes.targets.tolist() == [0, 1, 2, 3, 4]
    assert [p[0].text for p in axes.one] == [f"Looks for item {t}" for t in range(5)]
    assert [p[0] for p in twin_sentiment(axes).negative] == [
        Preference(f"Avoids item {t}", "negative") for t in range(5)
    ]
    assert [len(p) for p in axes.every] == [2] * 5  # the step's positive and negative one
    assert axes.fine.tolist() == [1, 2, 1, 4, 3]
    assert axes.coarse.tolist() == [3, 3, 3, 0, 0]
    assert [p[0].text for p in axes.swapped("fine")] == [
        f"Looks for item {t}" for t in (1, 2, 1, 4, 3)
    ]
    again = _axes()
    assert again.fine.tolist() == axes.fine.tolist() and again.every == axes.every


def test_a_model_that_follows_statements_steers_every_time_and_one_that_ignores_them_is_chance():
    axes = _axes()
    m = _measure(Following(), axes)
    assert m["fine"]["recall@10"] == m["coarse"]["recall@10"] == 1.0
    assert m["fine"]["chance_recall@10"] == 0.0  # without statements it ranks 19, 18, ...
    assert m["preference"]["recall@5"] == m["preference"]["ndcg@10"] == 1.0
    assert m["sentiment"]["combined_recall@10"] == 1.0
    assert m["consolidation"]["recall@10"] == m["consolidation"]["single_recall@10"] == 1.0
    unsaid = _measure(Following(), axes, given=False)
    assert unsaid["fine"]["recall@10"] == unsaid["fine"]["chance_recall@10"] == 0.0

    m = _measure(Ignoring(), axes)
    for axis in ("fine", "coarse"):
        assert m[axis]["recall@10"] == m[axis]["chance_recall@10"] == 1.0  # targets 0-4: top 10
    assert m["sentiment"]["combined_recall@10"] == 0.0  # the twin retrieves it just as well
    assert m["sentiment"]["positive_recall@10"] == m["sentiment"]["negative_recall@10"] == 1.0
    assert m["violations@10"] == pytest.approx(0.1)  # item 9, avoided by every step, is listed

    plain = Lists(Ignoring(), exclude_history=False)
    m = _measure(Ignoring(), axes, avoid=_matcher(), plain=plain)
    assert m["violations@10"] == 0.0
    assert m["sentiment"]["combined_recall@10"] == 1.0  # the twin's item is excluded


def test_lists_decode_a_request_set_once_per_histories():
    calls = []

    class Counting(Ignoring):
        def recommend(self, histories, k, preferences=None, exclude=None):
            calls.append(len(histories))
            return super().recommend(histories, k, preferences, exclude)

    lists = Lists(Counting(), exclude_history=False)
    one, two = np.array([[PAD, 1], [2, 3]]), np.array([[PAD, 4]])
    first = lists.of("plain", one, None)
    assert lists.of("plain", one.copy(), None) is first and calls == [2]
    lists.of("plain", two, None)
    assert calls == [2, 1]


def test_bench_prefs_end_to_end_on_a_tiny_run(tmp_path, monkeypatch):
    monkeypatch.setenv("GENREC_CACHE", str(tmp_path / "cache"))
    make_rated_dataset().save(tmp_path / "rated")
    folder = str(tmp_path / "rated")
    result = runner.invoke(app, ["prefs", "generate", folder, "progress=false"])
    assert result.exit_code == 0, result.output
    recipe = {
        "model": "popularity",
        "run_dir": str(tmp_path / "run"),
        "data": {"format": "genrec", "path": folder},
        "train": {"progress": False},
    }
    run = train(load_config(Recipe, recipe)).path
    statements = f"statements={folder}/prefs/attributes"
    result = runner.invoke(app, ["bench", "prefs", str(run), statements])
    assert result.exit_code == 0, result.output
    category = json.loads((run / "bench" / "prefs-category.json").read_text())
    assert category["rows"] == [] and category["counts"]["cases"] == 0  # no 20 items share one
    assert "too few to measure" in (run / "bench" / "prefs-category.md").read_text()
    for protocol in ("oracle", "leak_free", "describes_target"):
        report = json.loads((run / "bench" / f"prefs-{protocol}.json").read_text())
        assert report["protocol"] == protocol and report["counts"]["cases"] >= 2
        assert report["sentiment"] == "rated_low"  # the data has ratings: Mender's cases
        assert [(r["model"], r["statements"], r["avoid"]) for r in report["rows"]] == [
            ("popularity", "ignored", False),
            ("popularity", "ignored", True),
            ("statement_only", "given", False),
            ("statement_only", "given", True),
            ("statement_only", "none", False),
        ]
        assert report["rows"][1]["metrics"]["violations@10"] == 0.0
        assert "| pref R@10 |" in (run / "bench" / f"prefs-{protocol}.md").read_text()
    compared = json.loads((run / "bench" / "prefs-protocols.json").read_text())
    popularity = compared["rows"][0]["protocols"]
    assert popularity["leak_free"]["delta_recall@10"] == [0.0, 0.0, 0.0]  # it ignores them
    assert set(popularity) == {"oracle", "leak_free", "describes_target", "category"}
    exposure = json.loads((run / "bench" / "prefs-exposure.json").read_text())
    assert exposure["section"] == "exposure" and "prefs-exposure.md" in result.output
    result = runner.invoke(  # another generator's statements for 2 users: the same 2 cases
        app, ["prefs", "generate", folder, "steps=test", "users=2", "out=" + str(tmp_path / "two")]
    )
    assert result.exit_code == 0, result.output
    two = f"same_cases={tmp_path / 'two'}"
    result = runner.invoke(
        app, ["bench", "prefs", str(run), statements, two, "out=" + str(tmp_path / "b")]
    )
    assert result.exit_code == 0, result.output
    for protocol in ("oracle", "leak_free", "describes_target"):
        report = json.loads((tmp_path / "b" / f"prefs-{protocol}.json").read_text())
        assert report["counts"]["cases"] == 2 and report["same_cases"] == [str(tmp_path / "two")]
    result = runner.invoke(app, ["bench", "prefs", str(run), statements, "protocol=oracle", "k=3"])
    assert isinstance(result.exception, ConfigError) and "'k'" in str(result.exception)
    result = runner.invoke(app, ["bench", "prefs", str(run), statements, "protocol=best"])
    assert isinstance(result.exception, ConfigError)
    assert "protocol: unknown name 'best'; expected one of oracle, leak_free, describes" in str(
        result.exception
    )


def test_items_are_embedded_in_the_text_the_run_s_ids_were_built_from(tmp_path):
    from genrec.recipes.build_ids import IdsConfig, build_ids
    from genrec.recipes.evaluate import item_template
    from genrec.text.template import ItemTemplate

    make_rated_dataset().save(tmp_path / "rated")
    data = {"format": "genrec", "path": str(tmp_path / "rated")}
    ids = {
        "data": data,
        "template": {"fields": ["title", "categories"]},
        "rkmeans": {"codebook_size": 4, "n_levels": 2},
        "out": str(tmp_path / "ids"),
        "progress": False,
    }
    build_ids(load_config(IdsConfig, ids))
    with_ids = load_config(Recipe, {"model": "tiger", "data": data, "ids": str(tmp_path / "ids")})
    assert item_template(with_ids) == ItemTemplate(fields=("title", "categories"))
    assert item_template(load_config(Recipe, {"model": "sasrec", "data": data})) == ItemTemplate()
