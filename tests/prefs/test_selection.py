"""Which statement goes with which target: the protocols of the registry that choose within the
case's own step (oracle, leak-free), what they promise, and the table they hand over (the others:
test_protocols.py)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from genrec.config import load_config
from genrec.data.splits import leave_one_out
from genrec.errors import ConfigError
from genrec.prefs.preference import Preference
from genrec.prefs.protocols import PROTOCOLS, protocol
from genrec.prefs.selection import Cases, StepStatements, chosen_table, preferences, target_steps
from genrec.prefs.statements import Statements
from genrec.recipes.recipe import Recipe
from tests.prefs.conftest import make_rated_dataset


def table(rows: list[tuple[int, int, str, str]]) -> Statements:
    """Statements from (user, step, text, polarity) rows, numbered per step."""
    dataset = make_rated_dataset()
    frame = pl.DataFrame(rows, schema=["user", "step", "text", "polarity"], orient="row")
    return Statements.from_rows(dataset, "test", frame.with_columns(kind=pl.lit("test")))


STATEMENTS = table(
    [
        (0, 5, "likes sunscreen", "positive"),
        (0, 5, "likes perfume", "positive"),
        (0, 5, "avoids perfume", "negative"),
        (0, 4, "likes nail polish", "positive"),
        (1, 4, "likes shampoo", "positive"),
    ]
)


def steps_with_vectors(vectors: dict[str, list[float]]) -> StepStatements:
    positive = STATEMENTS.table.filter(pl.col("polarity") == "positive")
    texts = positive["text"].unique().sort().to_list()
    index = {t: i for i, t in enumerate(texts)}
    rows = positive.select(
        "user", "step", pl.col("text").replace_strict(index, return_dtype=pl.Int64)
    )
    return StepStatements(texts, np.array([vectors[t] for t in texts], dtype=np.float32), rows)


def test_oracle_picks_the_positive_statement_most_similar_to_the_target() -> None:
    steps = steps_with_vectors(
        {
            "likes sunscreen": [1, 0, 0],
            "likes perfume": [0, 1, 0],
            "likes nail polish": [0, 0.9, 0.1],  # another step: never a candidate for step 5
            "likes shampoo": [0, 0, 1],
        }
    )
    items = np.array([[0.8, 0.6, 0], [0.1, 0.99, 0], [0, 0, 1]], dtype=np.float32)
    cases = Cases(np.array([0, 0, 1, 1]), np.array([5, 5, 4, 3]), np.array([0, 1, 1, 0]))
    choice = protocol("oracle").choose(steps, items, cases)
    assert choice.shape == (4, 1)
    assert [steps.texts[c] if c >= 0 else None for c in choice[:, 0]] == [
        "likes sunscreen",  # closest to item 0
        "likes perfume",  # closest to item 1; the negative "avoids perfume" is never chosen
        "likes shampoo",  # the step's only positive one
        None,  # user 1 has no statements at step 3
    ]


def test_leak_free_never_reads_the_target() -> None:
    steps = steps_with_vectors(VECTORS)
    users, at = np.array([0, 0, 1]), np.array([5, 4, 4])
    choose = protocol("leak_free").choose
    one = choose(steps, ITEMS, Cases(users, at, np.array([0, 1, 2])))
    # Targets that are not even items: the choice cannot depend on them.
    other = choose(steps, ITEMS, Cases(users, at, np.array([-7, 10**9, -1])))
    assert np.array_equal(one, other)
    assert [[p.text for p in case] for case in preferences(steps, one, "history")] == [
        ["likes sunscreen", "likes perfume"],  # every positive statement, in generation order
        ["likes nail polish"],
        ["likes shampoo"],
    ]


VECTORS = {t: [1.0, 0.0] for t in ("likes sunscreen", "likes perfume", "likes nail polish")}
VECTORS["likes shampoo"] = [0.0, 1.0]
ITEMS = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)


@pytest.mark.parametrize("name", [n for n, p in PROTOCOLS.items() if p.about == "history"])
def test_every_history_protocol_hands_positive_statements_of_the_cases_own_step(name: str) -> None:
    steps = steps_with_vectors(VECTORS)
    cases = Cases(np.array([0, 0, 1, 1, 2]), np.array([5, 4, 4, 3, 1]), np.array([0, 1, 2, 0, 1]))
    chosen = PROTOCOLS[name].choose(steps, ITEMS, cases)
    assert chosen.dtype == np.int64 and chosen.shape[0] == 5 and chosen.shape[1] >= 1
    written = steps.rows.rows()  # (user, step, text index) of every positive statement
    for u, s, row in zip(cases.users.tolist(), cases.steps.tolist(), chosen.tolist(), strict=True):
        assert {c for c in row if c >= 0} <= {t for uu, ss, t in written if (uu, ss) == (u, s)}
    told = preferences(steps, chosen, PROTOCOLS[name].about)
    assert all(
        isinstance(p, Preference) and p.polarity == "positive" and p.about == "history"
        for c in told
        for p in c
    )
    assert [bool(c) for c in told] == [True, True, True, False, False]  # no statements: none
    assert (chosen[3:] == -1).all()


def test_the_chosen_table_pads_each_case_to_the_widest() -> None:
    table = chosen_table(np.array([0, 0, 2]), np.array([4, 1, 3]), 4)
    assert table.tolist() == [[4, 1], [-1, -1], [3, -1], [-1, -1]]
    assert chosen_table(np.array([], int), np.array([], int), 2).tolist() == [[-1], [-1]]


def test_an_unknown_protocol_is_refused_with_the_known_names() -> None:
    assert list(PROTOCOLS) == ["oracle", "leak_free", "describes_target", "category"]
    with pytest.raises(ConfigError, match="unknown name 'best'; expected one of oracle, leak_f"):
        protocol("best")
    with pytest.raises(ConfigError, match="prefs: protocol: unknown name 'best'"):
        load_config(Recipe, {"prefs": {"protocol": "best"}})
    # what saved run configs hold still loads
    assert load_config(Recipe, {"prefs": {"protocol": "oracle"}}).prefs.protocol == "oracle"


def test_target_steps_locate_leave_one_out_cases() -> None:
    dataset = make_rated_dataset()
    split = leave_one_out(dataset, max_history=3)
    lengths = dataset.sequences().lengths
    for cases, back in ((split.valid, 2), (split.test, 1)):
        steps = target_steps(dataset, cases.users, cases.histories, cases.targets)
        assert steps.tolist() == (lengths[cases.users] - back).tolist()
