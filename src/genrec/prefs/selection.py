"""Which statements go with which target: the vocabulary every selection protocol shares.

A case is (user, step, target): the statements written for ``step`` read only the items before
it. A selection protocol (``genrec.prefs.protocols``, a registry by name) hands each case some
positive statements, as indices into ``StepStatements.texts`` (``Choose``: an ``[N, S]`` table,
-1 padded, in the order the model gets them): of its own step (leak-free, oracle), of the whole
pool (describes_target) or of a pool the protocol writes (category). Here: the cases, the
positive statements of every step, that table and the preferences it stands for, and the step of
each leave-one-out case. Negative statements go to the exclusion, not to the model, under every
protocol; a case given no positive statement runs unconditioned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from genrec.data.dataset import Dataset
from genrec.errors import DataError
from genrec.prefs.preference import About, Preference
from genrec.prefs.statements import Statements
from genrec.prefs.vectors import StatementEncoder

#: Which cases: training targets, or the held-out validation or test ones. A protocol may treat
#: them differently (describes_target: Mender's 2nd nearest statement for validation, 3rd for
#: test, so model selection never sees the test statement).
Part = Literal["train", "valid", "test"]


@dataclass(frozen=True)
class Cases:
    """Targets to choose statements for: ``users[i]`` at ``steps[i]`` should get ``targets[i]``."""

    users: np.ndarray  # [N] int64
    steps: np.ndarray  # [N] int64, index of the target in the user's chronological sequence
    targets: np.ndarray  # [N] int64
    part: Part = "test"


@dataclass(frozen=True)
class StepStatements:
    """The positive statements of every step: distinct ``texts`` with their ``vectors [T, D]``
    and ``rows`` (``user``, ``step``, ``text`` index into ``texts``), in generation order."""

    texts: list[str]
    vectors: np.ndarray
    rows: pl.DataFrame

    @classmethod
    def of(
        cls, statements: Statements, encoder: StatementEncoder, progress: bool = False
    ) -> StepStatements:
        positive = statements.table.filter(pl.col("polarity") == "positive")
        texts = positive["text"].unique().sort().to_list()
        index = pl.DataFrame(
            {
                "text": pl.Series(texts, dtype=pl.String),
                "index": np.arange(len(texts), dtype=np.int64),
            }
        )
        rows = positive.join(index, on="text", how="left").sort("user", "step", "statement")
        rows = rows.select("user", "step", pl.col("index").alias("text"))
        vectors = encoder.table(texts, progress) if texts else np.zeros((0, encoder.dim), "f4")
        return cls(texts, vectors, rows)


#: A selection protocol: ``(steps, item_vectors [n_items, D] (unit rows), cases)`` -> per case
#: the indices into ``steps.texts`` of the statements the model is handed, ``[N, S]`` int64
#: (``S >= 1``), -1 padded, in the order handed over.
Choose = Callable[[StepStatements, np.ndarray, Cases], np.ndarray]


def case_rows(steps: StepStatements, cases: Cases) -> pl.DataFrame:
    """One row per (case, positive statement of its step): ``case``, ``text``, ``target``,
    ordered by case, then as the generator wrote the step's statements."""
    frame = pl.DataFrame(
        {"case": np.arange(len(cases.users)), "user": cases.users, "step": cases.steps},
        schema={"case": pl.Int64, "user": pl.Int32, "step": pl.Int32},
    ).with_columns(target=pl.Series(cases.targets, dtype=pl.Int64))
    written = steps.rows.with_row_index("order")  # rows are in generation order
    joined = frame.join(written, on=["user", "step"], how="inner")
    return joined.sort("case", "order").drop("order")


def step_statements(steps: StepStatements, cases: Cases) -> np.ndarray:
    """Every positive statement of each case's own step, in generation order (``Choose``); the
    targets are not read."""
    blind = Cases(cases.users, cases.steps, np.zeros(len(cases.users), dtype=np.int64))
    rows = case_rows(steps, blind)
    return chosen_table(rows["case"].to_numpy(), rows["text"].to_numpy(), len(cases.users))


def chosen_table(case: np.ndarray, text: np.ndarray, n_cases: int) -> np.ndarray:
    """The ``[n_cases, S]`` table (``Choose``) of ``(case, text)`` pairs sorted by case, each
    case's in the order handed over; -1 pads, and ``S >= 1`` even when nothing is chosen."""
    slot = np.arange(len(case)) - np.searchsorted(case, case, side="left")
    table = np.full((n_cases, max(int(slot.max(initial=0)) + 1, 1)), -1, dtype=np.int64)
    table[case, slot] = text
    return table


def preferences(steps: StepStatements, chosen: np.ndarray, about: About) -> list[list[Preference]]:
    """Per case, the statements ``chosen [N, S]`` (``Choose``) stands for, as positive
    ``Preference`` objects ``about`` what the protocol's statements describe, in order (``[]``
    where it chose none)."""
    return [
        [Preference(steps.texts[c], about=about) for c in row if c >= 0] for row in chosen.tolist()
    ]


def target_steps(
    dataset: Dataset, users: np.ndarray, histories: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """The step (position in the user's sequence) of each leave-one-out case ``[N]``: the last
    or second to last position whose item is the target and whose preceding items are the
    case's history (``histories [N, H]``, left-padded with -1)."""
    seqs = dataset.sequences()
    width = histories.shape[1]
    start = seqs.offsets[users]
    out = np.full(len(users), -1, dtype=np.int64)
    for back in (2, 1):  # both may match (a repeated item): the later position wins
        pos = seqs.lengths[users] - back
        cols = start[:, None] + pos[:, None] + np.arange(-width, 0)[None, :]
        before = np.where(cols >= start[:, None], seqs.items[np.clip(cols, 0, None)], -1)
        ok = (pos >= 0) & (seqs.items[start + np.clip(pos, 0, None)] == targets)
        ok &= (before == histories).all(1)
        out[ok] = pos[ok]
    if (out < 0).any():
        case = int(np.flatnonzero(out < 0)[0])
        raise DataError(
            f"{int((out < 0).sum())} evaluation cases (e.g. user {int(users[case])}) are not at "
            "the last two positions of their user's sequence; statements are matched to "
            "leave-one-out cases only (data.split=leave_one_out)."
        )
    return out
