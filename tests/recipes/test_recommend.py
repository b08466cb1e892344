"""Recommendations by user and item ids from a trained run (RunRecommender, `genrec recommend`)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.config import load_config
from genrec.data.dataset import Dataset
from genrec.errors import ConfigError, DataError
from genrec.models.recommender import PAD
from genrec.recipes.recipe import Recipe
from genrec.recipes.recommend import RunRecommender
from genrec.recipes.train import train

runner = CliRunner()


def titled_dataset() -> Dataset:
    """30 users walking a cycle over 12 items; titles hold rich-markup brackets, i11 has none."""
    users, items = [], []
    for user in range(30):
        users += [f"u{user}"] * (3 + user % 5)
        items += [f"i{(user + step) % 12}" for step in range(3 + user % 5)]
    titles = [f"Pen [pack of {i}]" for i in range(11)] + [None]
    return Dataset.from_frames(
        "pens",
        pl.DataFrame({"user_id": users, "item_id": items}),
        pl.DataFrame({"item_id": [f"i{i}" for i in range(12)], "title": titles}),
        source={"reader": "test"},
    )


@pytest.fixture(scope="module", params=["popularity", "sasrec"])
def run_path(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    titled_dataset().save(root / "data")
    recipe = {
        "model": request.param,
        "run_dir": str(root / "run"),
        "data": {"format": "genrec", "path": str(root / "data"), "max_history": 4},
        "sasrec": {"hidden": 8, "layers": 1, "heads": 1, "ff_dim": 16},
        "train": {"epochs": 1, "batch_size": 16, "progress": False},
    }
    return train(load_config(Recipe, recipe)).path


def test_a_users_list_is_made_from_their_test_history(run_path):
    recommender = RunRecommender(run_path)
    answer = recommender.recommend(user="u7", k=5)
    row = int(np.flatnonzero(recommender.split.test.users == 7)[0])
    expected = recommender.split.test.histories[row]
    # u7 bought i7..i15 mod 12 (5 items); the last one is held out, the model sees the 4 before
    assert [item.item_id for item in answer.history] == ["i7", "i8", "i9", "i10"]
    assert [recommender.item_ids[i] for i in expected[expected != PAD]] == ["i7", "i8", "i9", "i10"]
    assert answer.history[0].title == "Pen [pack of 7]"
    assert [r.rank for r in answer.items] == [1, 2, 3, 4, 5]
    scores = [r.score for r in answer.items]
    assert scores == sorted(scores, reverse=True)
    for r in answer.items:
        index = recommender.item_ids.index(r.item_id)
        assert r.title == recommender.titles[index]


def test_a_history_of_item_ids_and_excluding_it(run_path):
    recommender = RunRecommender(run_path)
    history = ["i1", "i2", "i3", "i4", "i5", "i6"]
    kept = recommender.recommend(history=history, k=12, exclude_history=False)
    assert [item.item_id for item in kept.history] == history[-4:]  # max_history = 4
    assert len(kept.items) == 12  # the whole catalog, history included
    excluded = recommender.recommend(history=history, k=12, exclude_history=True)
    assert {r.item_id for r in excluded.items} == {f"i{i}" for i in range(12)} - set(history[-4:])


def test_unknown_ids_and_bad_requests_are_explained(run_path):
    recommender = RunRecommender(run_path)
    with pytest.raises(
        DataError, match=r"user 'nobody' is not in dataset pens \(30 users, e\.g\. u0"
    ):
        recommender.recommend(user="nobody")
    with pytest.raises(DataError, match=r"item 'i99' is not in dataset pens \(12 items, e\.g\. i0"):
        recommender.recommend(history=["i1", "i99"])
    with pytest.raises(ConfigError, match="k=13: must be between 1 and the catalog size"):
        recommender.recommend(user="u1", k=13)
    with pytest.raises(ConfigError, match="not both"):
        recommender.recommend(user="u1", history=["i1"])


def test_the_command_prints_history_and_recommendations(run_path):
    result = runner.invoke(app, ["recommend", str(run_path), "--user", "u7", "-k", "3"])
    assert result.exit_code == 0, result.output
    assert "recent items of user u7" in result.output and "Pen [pack of 10]" in result.output
    assert "rank" in result.output and "score" in result.output

    result = runner.invoke(
        app, ["recommend", str(run_path), "--history", "i1", "i2", "--exclude-history"]
    )
    assert result.exit_code == 0, result.output
    assert "Pen [pack of 1]" in result.output.split("top 10")[0]

    result = runner.invoke(app, ["recommend", str(run_path), "--user", "zz"])
    assert isinstance(result.exception, DataError) and "'zz'" in str(result.exception)
    result = runner.invoke(app, ["recommend", str(run_path), "i1"])
    assert result.exit_code == 2 and "--history" in result.output
