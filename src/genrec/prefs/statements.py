"""The statement table and the generator protocol every statement writer follows.

One row per statement: ``user`` (index), ``user_id``, ``step`` (index of the target
interaction in the user's chronological sequence; only items before it were read),
``statement`` (its index within the step), ``text``, ``polarity`` (positive / negative),
``kind`` (which evidence the generator used, e.g. category, terms, liked, disliked) and
``generator``. Rows are sorted by user, step, statement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from genrec.data.dataset import Dataset
from genrec.errors import DataError
from genrec.prefs.polarity import POLARITIES, polarity
from genrec.prefs.steps import Steps

SCHEMA: dict[str, pl.DataType] = {
    "user": pl.Int32(),
    "user_id": pl.String(),
    "step": pl.Int32(),
    "statement": pl.Int16(),
    "text": pl.String(),
    "polarity": pl.String(),
    "kind": pl.String(),
    "generator": pl.String(),
}
#: What a generator writes per statement, as tuples (``Statements.from_rows`` adds the rest).
ROW_SCHEMA: dict[str, pl.DataType] = {
    "user": pl.Int32(),
    "step": pl.Int32(),
    "text": pl.String(),
    "polarity": pl.String(),
    "kind": pl.String(),
}
#: Longer text is not a statement but a paragraph (or a model rambling): counted and dropped.
MAX_CHARS = 300


@dataclass(frozen=True)
class Statements:
    """A statement table (``SCHEMA``) and, per reason, how many statements or steps were skipped."""

    table: pl.DataFrame
    skipped: Mapping[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.table.height

    @classmethod
    def from_rows(
        cls,
        dataset: Dataset,
        generator: str,
        rows: pl.DataFrame | list[tuple[int, int, str, str | None, str | None]],
        skipped: Mapping[str, int] | None = None,
    ) -> Statements:
        """Complete a generator's rows (``user``, ``step``, ``text``; ``polarity``, ``kind``),
        a frame or tuples in ``ROW_SCHEMA`` order.

        Adds ``user_id`` and ``generator``, labels a missing polarity with the lexicon
        classifier, drops (and counts) empty and overlong texts, and numbers the statements
        of each step.
        """
        counts = Counter(dict(skipped or {}))
        if isinstance(rows, list):
            rows = pl.DataFrame(rows, schema=ROW_SCHEMA, orient="row")
        if "polarity" not in rows.columns:
            rows = rows.with_columns(polarity=pl.lit(None, dtype=pl.String))
        if "kind" not in rows.columns:
            rows = rows.with_columns(kind=pl.lit(None, dtype=pl.String))
        rows = rows.with_columns(pl.col("text").str.replace_all(r"\s+", " ").str.strip_chars())
        length = pl.col("text").str.len_chars().fill_null(0)
        counts["empty_statement"] += rows.filter(length == 0).height
        counts["overlong_statement"] += rows.filter(length > MAX_CHARS).height
        rows = rows.filter((length > 0) & (length <= MAX_CHARS))
        labels = rows["polarity"].to_list()
        missing = [i for i, label in enumerate(labels) if label is None]
        texts = rows["text"].to_list()
        for i, label in zip(missing, polarity([texts[i] for i in missing]), strict=True):
            labels[i] = label
        rows = rows.with_columns(polarity=pl.Series(labels, dtype=pl.String))
        table = (
            rows.with_columns(pl.col("user").cast(pl.Int32), pl.col("step").cast(pl.Int32))
            .with_columns(statement=pl.int_range(pl.len()).over("user", "step"))
            .join(dataset.users.select("user", "user_id"), on="user", how="left")
            .with_columns(generator=pl.lit(generator))
            .sort("user", "step", "statement", maintain_order=True)
        )
        table = table.select(pl.col(c).cast(t) for c, t in SCHEMA.items())
        check_table(table, "generated statements")
        return cls(table, {k: v for k, v in sorted(counts.items()) if v})


def check_table(table: pl.DataFrame, where: str) -> None:
    """Raise ``DataError`` naming ``where`` if ``table`` does not follow ``SCHEMA``."""
    found = dict(table.schema)
    if found != SCHEMA:
        raise DataError(
            f"{where}: expected columns {dict(SCHEMA)}, found {found}; regenerate the statements."
        )
    bad = table.filter(~pl.col("polarity").is_in(POLARITIES))
    if bad.height:
        raise DataError(
            f"{where}: polarity must be one of {POLARITIES}, found {bad['polarity'].unique()[:3]}"
        )


class Generator(Protocol):
    """Writes statements for ``steps`` of ``dataset`` from the items before each step."""

    @property
    def name(self) -> str:
        """Short name stored in every row (``attributes``, ``llm``, ``openai``)."""
        ...

    def identity(self) -> dict[str, Any]:
        """Name, version and settings: two generators with equal identity write equal text."""
        ...

    def generate(self, dataset: Dataset, steps: Steps) -> Statements:
        """Statements for every step it can ground; the others counted in ``skipped``."""
        ...
