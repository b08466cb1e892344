"""Which statement goes with which target: the oracle and the leak-free protocol."""

from __future__ import annotations

import numpy as np
import polars as pl

from genrec.data.splits import leave_one_out
from genrec.prefs.selection import Cases, StepStatements, leak_free, oracle_choice, target_steps
from genrec.prefs.statements import Statements
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
    choice = oracle_choice(steps, items, cases)
    assert [steps.texts[c] if c >= 0 else None for c in choice] == [
        "likes sunscreen",  # closest to item 0
        "likes perfume",  # closest to item 1; the negative "avoids perfume" is never chosen
        "likes shampoo",  # the step's only positive one
        None,  # user 1 has no statements at step 3
    ]


def test_leak_free_never_reads_the_target() -> None:
    users, steps = np.array([0, 0, 1]), np.array([5, 4, 4])
    one = leak_free(STATEMENTS, Cases(users, steps, np.array([0, 1, 2])))
    # Targets that are not even items: the choice cannot depend on them.
    other = leak_free(STATEMENTS, Cases(users, steps, np.array([-7, 10**9, -1])))
    assert one == other
    assert [[p.text for p in case] for case in one] == [
        ["likes sunscreen", "likes perfume"],  # every positive statement, in generation order
        ["likes nail polish"],
        ["likes shampoo"],
    ]
    assert all(p.polarity == "positive" for case in one for p in case)


def test_target_steps_locate_leave_one_out_cases() -> None:
    dataset = make_rated_dataset()
    split = leave_one_out(dataset, max_history=3)
    lengths = dataset.sequences().lengths
    for cases, back in ((split.valid, 2), (split.test, 1)):
        steps = target_steps(dataset, cases.users, cases.histories, cases.targets)
        assert steps.tolist() == (lengths[cases.users] - back).tolist()
