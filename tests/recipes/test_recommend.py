"""Recommendations by user and item ids from a trained run (RunRecommender, `genrec recommend`)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.config import load_config
from genrec.data.dataset import Dataset
from genrec.data.windows import PAD
from genrec.errors import ConfigError, DataError
from genrec.prefs.matching import MatchConfig
from genrec.prefs.preference import Preference
from genrec.recipes.recipe import Recipe
from genrec.recipes.recommend import RunRecommender, varied
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


@pytest.fixture()
def embedding_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENREC_CACHE", str(tmp_path / "cache"))


@pytest.mark.filterwarnings("ignore:pens. 1 of 12 items have none")  # i11 has no title
def test_avoid_statements_exclude_what_they_match_and_say_how_much(run_path, embedding_cache):
    # Threshold 1: only word matches count, so the excluded set is known exactly.
    recommender = RunRecommender(run_path, match=MatchConfig(threshold=1.0))
    history = ["i1", "i2"]
    plain = recommender.recommend(history=history, k=12)
    assert "i3" in {r.item_id for r in plain.items} and plain.avoided == []
    avoid = [Preference("pack of 3", "negative"), Preference("pens", "positive")]
    answer = recommender.recommend(history=history, k=12, preferences=avoid)
    assert {r.item_id for r in answer.items} == {f"i{i}" for i in range(12)} - {"i3"}
    [avoided] = answer.avoided
    assert (avoided.subject, avoided.n_items) == ("pack of 3", 1)
    assert [item.item_id for item in avoided.examples] == ["i3"]
    ignored = recommender.recommend(history=history, k=12, preferences=avoid, enforce_avoid=False)
    assert [r.item_id for r in ignored.items] == [r.item_id for r in plain.items]
    # Bare text is classified: "avoid ..." is negative.
    bare = recommender.recommend(history=history, k=12, preferences=["avoid pack of 5"])
    assert "i5" not in {r.item_id for r in bare.items}


@pytest.mark.filterwarnings("ignore:pens. 1 of 12 items have none")  # i11 has no title
def test_bad_statements_are_clear_errors(run_path, embedding_cache):
    recommender = RunRecommender(run_path, match=MatchConfig(threshold=1.0))
    with pytest.raises(ConfigError, match="empty"):
        recommender.recommend(user="u1", preferences=["  "])
    with pytest.raises(ConfigError, match="301 characters, at most 300"):
        recommender.recommend(user="u1", preferences=["avoid " + "x" * 295])
    with pytest.raises(DataError, match="names nothing to avoid"):
        recommender.recommend(user="u1", preferences=[Preference("avoid it", "negative")])


def test_the_runs_calibration_is_the_default(run_path):
    record = {"format": "genrec-avoid/1", "match": {"threshold": 0.93, "words": False}}
    (run_path / "avoid.json").write_text(json.dumps(record))
    try:
        assert RunRecommender(run_path).match == MatchConfig(threshold=0.93, words=False)
        assert RunRecommender(run_path, match=MatchConfig()).match == MatchConfig()
    finally:
        (run_path / "avoid.json").unlink()


@pytest.mark.filterwarnings("ignore:pens. 1 of 12 items have none")  # i11 has no title
def test_the_command_prefers_avoids_and_explains(run_path, embedding_cache):
    args = ["recommend", str(run_path), "--history", "i1", "i2", "-k", "12"]
    result = runner.invoke(
        app,
        [
            *args,
            "--prefer",
            "pens",
            "--avoid",
            "pack of 3",
            "--avoid",
            "no pack of 4",
            "--avoid-threshold",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    top, explained = result.output.split("avoid 'pack of 3'")
    assert "Pen [pack of 3]" not in top and "Pen [pack of 4]" not in top
    assert "Pen [pack of 5]" in top
    assert "excluded 1 item, e.g. Pen [pack of 3]" in " ".join(explained.split())
    assert "'no pack of 4' (matched as 'pack of 4') excluded 1 item" in " ".join(explained.split())
    quiet = runner.invoke(app, [*args, "--avoid", "pack of 3", "--no-explain-avoid"])
    assert quiet.exit_code == 0 and "excluded" not in quiet.output
    unknown = runner.invoke(app, [*args, "--avoid", "zebra crossings", "--avoid-threshold", "1"])
    assert "excluded nothing: no item in the catalog matched it" in " ".join(unknown.output.split())
    result = runner.invoke(app, [*args, "--avoid", ""])  # refused before the run loads
    assert isinstance(result.exception, DataError) and "non-empty" in str(result.exception)
    result = runner.invoke(app, [*args, "--avoid", "x" * 301])
    assert isinstance(result.exception, ConfigError) and "at most 300" in str(result.exception)


@pytest.mark.filterwarnings("ignore:pens. 1 of 12 items have none")  # i11 has no title
def test_prefer_on_a_model_that_cannot_read_it_and_warnings_are_one_line_notes(
    run_path, embedding_cache
):
    args = ["recommend", str(run_path), "--history", "i1", "i2", "-k", "3"]
    plain = runner.invoke(app, args)
    result = runner.invoke(app, [*args, "--prefer", "pens"])
    assert result.exit_code == 0, result.output
    assert "--prefer ignored" in result.stderr and "does not read them" in result.stderr
    assert result.stdout.count("Pen [") == plain.stdout.count("Pen [")
    # the first --avoid embeds the items, and warns that i11 has no title: one line, as a user
    # of the command sees it (a subprocess: pytest records warnings instead of printing them)
    command = [sys.executable, "-m", "genrec.cli.main", *args, "--avoid", "pack of 3"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    [warned] = [line for line in proc.stderr.splitlines() if "items have none" in line]
    assert warned.startswith("note: pens: 1 of 12 items have none")
    assert "UserWarning" not in proc.stderr and ".py:" not in proc.stderr


def test_avoid_examples_show_different_kinds_first():
    titles = [
        "HP 564XL Ink Cartridge-Cyan",
        "HP 564XL Ink Cartridge-Black",
        "Canon PGI-9 Green Ink Tank (1041B002)",
        "Ink Cartridges for use on Canon PIXMA Printers",  # the same head noun, in plural
        None,
    ]
    ranked = np.arange(5)
    assert varied(ranked, titles, 3) == [0, 2, 4]
    assert varied(ranked, titles, 5) == [0, 2, 4, 1, 3]
    assert varied(ranked[:2], titles, 3) == [0, 1]


def test_a_printed_chain_is_as_written_and_says_when_it_was_cut_off():
    from rich.console import Console

    from genrec.cli.recommend import _chain_line

    def printed(chain: str, truncated: bool) -> str:
        console = Console(record=True, width=200)
        console.print(_chain_line(chain, truncated))
        return console.export_text().rstrip("\n")

    assert printed("Likes [blue] pens.", False) == "reasoning: Likes [blue] pens."
    assert printed("", False) == "reasoning: (empty)"
    assert printed("\n\n", True) == (
        "reasoning: (blank: '\\n\\n') (cut off: it used up decode.chain_tokens before the answer)"
    )
