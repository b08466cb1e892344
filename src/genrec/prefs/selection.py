"""Which statements go with which target: the two evaluation protocols, as pure functions.

A case is (user, step, target): the statements written for ``step`` read only the items before
it. Two ways to hand them to a model:

- ``oracle`` (Mender's protocol): the one positive statement of the step most similar
  (cosine of sentence embeddings) to the target item's text. It looks at the target, so it is
  an upper bound, reported beside the leak-free number only. Training may use it freely: there
  the target is a label (Mender does the same).
- ``leak_free`` (the headline protocol): every positive statement of the step, in the order the
  generator wrote them. They are a function of the history alone, so nothing about the target
  can enter, and the model gets all the evidence the generator saw (pooled by the model).
  Negative statements go to the exclusion, not to the model, in both protocols.

A case whose step has no positive statement gets none (the model then runs unconditioned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from genrec.data.dataset import Dataset
from genrec.errors import DataError
from genrec.prefs.preference import Preference
from genrec.prefs.statements import Statements
from genrec.prefs.vectors import StatementEncoder
from genrec.text.cache import item_embeddings

SelectionProtocol = Literal["oracle", "leak_free"]
PROTOCOLS: tuple[SelectionProtocol, ...] = ("oracle", "leak_free")


@dataclass(frozen=True)
class Cases:
    """Targets to choose statements for: ``users[i]`` at ``steps[i]`` should get ``targets[i]``."""

    users: np.ndarray  # [N] int64
    steps: np.ndarray  # [N] int64, index of the target in the user's chronological sequence
    targets: np.ndarray  # [N] int64


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
        index = pl.DataFrame({"text": texts, "index": np.arange(len(texts), dtype=np.int64)})
        rows = positive.join(index, on="text", how="left").sort("user", "step", "statement")
        rows = rows.select("user", "step", pl.col("index").alias("text"))
        vectors = encoder.table(texts, progress) if texts else np.zeros((0, encoder.dim), "f4")
        return cls(texts, vectors, rows)


def case_rows(steps: StepStatements, cases: Cases) -> pl.DataFrame:
    """One row per (case, positive statement of its step): ``case``, ``text``, ``target``."""
    frame = pl.DataFrame(
        {"case": np.arange(len(cases.users)), "user": cases.users, "step": cases.steps},
        schema={"case": pl.Int64, "user": pl.Int32, "step": pl.Int32},
    ).with_columns(target=pl.Series(cases.targets, dtype=pl.Int64))
    joined = frame.join(steps.rows, on=["user", "step"], how="inner")
    return joined.sort("case", maintain_order=True)


def oracle_choice(steps: StepStatements, item_vectors: np.ndarray, cases: Cases) -> np.ndarray:
    """Index into ``steps.texts`` of each case's oracle statement ``[N]`` (-1: none): the
    positive statement of its step with the highest cosine to ``item_vectors[target]``
    (unit rows; ties go to the statement written first)."""
    rows = case_rows(steps, cases)
    text = rows["text"].to_numpy()
    score = np.einsum("nd,nd->n", steps.vectors[text], item_vectors[rows["target"].to_numpy()])
    best = (
        rows.with_columns(score=score)
        .with_row_index("order")
        .sort(["case", "score", "order"], descending=[False, True, False])
        .unique("case", keep="first", maintain_order=True)
    )
    out = np.full(len(cases.users), -1, dtype=np.int64)
    out[best["case"].to_numpy()] = best["text"].to_numpy()
    return out


def oracle(
    statements: Statements,
    dataset: Dataset,
    cases: Cases,
    encoder: StatementEncoder,
    cache_dir: str | None = None,
) -> list[list[Preference]]:
    """Per case, the positive statement of its step most similar to its target (``[]`` if the
    step has none). Reads the target: an upper bound, not a deployable protocol."""
    steps = StepStatements.of(statements, encoder)
    items = item_embeddings(dataset, encoder=encoder.encoder, cache_dir=cache_dir, progress=False)
    choice = oracle_choice(steps, items, cases)
    return [[Preference(steps.texts[c])] if c >= 0 else [] for c in choice]


def leak_free(statements: Statements, cases: Cases) -> list[list[Preference]]:
    """Per case, every positive statement written for its step, in generation order. Only
    ``users`` and ``steps`` are read: the targets cannot influence the choice."""
    steps = pl.DataFrame(
        {"case": np.arange(len(cases.users)), "user": cases.users, "step": cases.steps},
        schema={"case": pl.Int64, "user": pl.Int32, "step": pl.Int32},
    )
    positive = statements.table.filter(pl.col("polarity") == "positive")
    grouped = (
        steps.join(positive.select("user", "step", "statement", "text"), on=["user", "step"])
        .sort("case", "statement")
        .group_by("case", maintain_order=True)
        .agg("text")
    )
    out: list[list[Preference]] = [[] for _ in range(len(cases.users))]
    for case, texts in zip(grouped["case"], grouped["text"], strict=True):
        out[case] = [Preference(t) for t in texts]
    return out


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
