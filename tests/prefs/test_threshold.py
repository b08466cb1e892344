from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from genrec.data.dataset import Dataset
from genrec.errors import DataError
from genrec.prefs.matching import MatchConfig
from genrec.prefs.statements import Statements
from genrec.prefs.threshold import (
    FORMAT,
    choose_threshold,
    read_calibration,
    validation_pairs,
)

from .avoid_helpers import catalog_texts, hashing_matcher
from .conftest import HISTORIES, make_rated_dataset


def _statements(dataset: Dataset, rows: list[tuple[str, int, str, str]]) -> Statements:
    users = dataset.users["user_id"].to_list()
    frame = pl.DataFrame(
        [(users.index(u), step, text, polarity) for u, step, text, polarity in rows],
        schema={"user": pl.Int32, "step": pl.Int32, "text": pl.String, "polarity": pl.String},
        orient="row",
    )
    return Statements.from_rows(dataset, "test", frame)


def test_validation_pairs_read_validation_steps_only():
    dataset = make_rated_dataset()  # alice: 6 items (validation step 4), bob 5 (step 3)
    statements = _statements(
        dataset,
        [
            ("alice", 4, "avoid glitter", "negative"),
            ("alice", 4, "likes cream", "positive"),
            ("alice", 5, "avoid spice", "negative"),  # test step: never read
            ("bob", 3, "avoid shampoo", "negative"),
            ("bob", 2, "avoid cream", "negative"),  # neither validation nor test
        ],
    )
    texts, targets = validation_pairs(dataset, statements)
    ids = dataset.items["item_id"].to_list()
    assert sorted(zip(texts, [ids[t] for t in targets], strict=True)) == [
        ("avoid glitter", "z1"),
        ("avoid shampoo", "s2"),
    ]


def test_the_test_targets_do_not_change_the_pairs():
    dataset = make_rated_dataset()
    changed = {u: [*seq[:-1], ("h1", 1, "")] for u, seq in HISTORIES.items()}
    other = make_rated_dataset(changed)  # every user's last (test) item replaced
    rows = [("alice", 4, "avoid glitter", "negative"), ("bob", 3, "avoid cream", "negative")]
    first = validation_pairs(dataset, _statements(dataset, rows))
    second = validation_pairs(other, _statements(other, rows))
    assert first[0] == second[0] and first[1].tolist() == second[1].tolist()


def test_the_threshold_keeps_false_exclusion_within_the_budget_and_is_deterministic():
    texts = catalog_texts(60, seed=1)
    matcher = hashing_matcher(texts, words=False)
    rng = np.random.default_rng(0)
    statements = [f"avoid {texts[i]}" for i in rng.integers(0, 60, size=200)]
    targets = rng.integers(0, 60, size=200)
    choice = choose_threshold(matcher, statements, targets, max_false_exclusion=0.1)
    assert choice == choose_threshold(matcher, statements, targets, max_false_exclusion=0.1)
    own = matcher.similarity(statements)[np.arange(200), targets]
    assert choice.false_exclusion == (own >= choice.threshold).mean() <= 0.1
    # As strict as the budget allows: the next cosine down would exceed it.
    below = own[own < choice.threshold].max()
    assert (own >= below).mean() > 0.1
    assert choice.pairs == 200 and choice.mean_excluded > 0


def test_word_matches_count_toward_the_budget():
    texts = ["glitter polish", "matte cream", "spice cream", "mineral sunscreen"]
    matcher = hashing_matcher(texts)
    # Every statement matches its target by words: the budget is spent, meaning matches nothing.
    choice = choose_threshold(matcher, ["avoid glitter", "avoid cream"], np.array([0, 1]), 0.1)
    assert choice.threshold == 1.0 and choice.fixed_false_exclusion == 1.0


def test_no_validation_statements_is_an_error():
    with pytest.raises(DataError, match="validation steps"):
        choose_threshold(hashing_matcher(catalog_texts(4)), [], np.array([], int), 0.05)


def test_calibration_round_trip_and_bad_files(tmp_path):
    record = {"format": FORMAT, "match": {"threshold": 0.42, "words": False}}
    (tmp_path / "avoid.json").write_text(json.dumps(record))
    config, found = read_calibration(tmp_path)
    assert config == MatchConfig(threshold=0.42, words=False) and found == record
    with pytest.raises(DataError, match="genrec prefs threshold"):
        read_calibration(tmp_path / "nothing")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match="not valid JSON"):
        read_calibration(tmp_path / "bad.json")
