"""Results tables: one row per model (or run), metrics as columns, each with its spread.

A row is either one ``EvalResult`` (shown as ``mean ± half-width of the 95% CI`` over users)
or a list of them from different seeds (shown as ``mean ± std`` across seeds). The same
cells feed a Markdown table (benchmarks/results/, notes) and a rich table (the CLI).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rich.table import Table

from genrec.eval.harness import EvalResult
from genrec.eval.metrics import METRICS, aggregate_seeds

Entry = EvalResult | Sequence[EvalResult]

#: Metric columns shown by default: the published ones (docs/evaluation.md).
PUBLISHED_COLUMNS: tuple[str, ...] = ("recall@5", "ndcg@5", "recall@10", "ndcg@10")


def summarize_entry(entry: Entry) -> tuple[dict[str, tuple[float, float]], str]:
    """``{metric: (value, spread)}`` for one row, and the row's sample-size label.

    One result: spread = half-width of its 95% CI. Several (seeds): spread = std across them.
    """
    if isinstance(entry, EvalResult):
        cells = {
            name: (value, (entry.ci95[name][1] - entry.ci95[name][0]) / 2)
            for name, value in entry.metrics.items()
        }
        return cells, f"{entry.n_users} users"
    results = list(entry)
    if not results:
        raise ValueError("a results-table row needs at least one EvalResult")
    seeds = f"{len(results)} seed" + ("s" if len(results) > 1 else "")
    return aggregate_seeds([r.metrics for r in results]), seeds


def default_columns(rows: Mapping[str, Entry]) -> list[str]:
    """Metrics every row has, ordered by cut-off then recall / ndcg / mrr."""
    summaries = [summarize_entry(entry)[0] for entry in rows.values()]
    common = set.intersection(*(set(s) for s in summaries)) if summaries else set()

    def key(name: str) -> tuple[int, int, str]:
        metric, _, k = name.partition("@")
        order = METRICS.index(metric) if metric in METRICS else len(METRICS)
        return (int(k) if k.isdigit() else 0, order, name)

    return sorted(common, key=key)


def markdown_table(
    rows: Mapping[str, Entry],
    columns: Sequence[str] | None = None,
    digits: int = 4,
    label: str = "model",
) -> str:
    """A GitHub Markdown table, with a caption line saying what ``±`` means; ``label`` heads
    the column of row names (what the rows are: models, runs, splits)."""
    header, body = _cells(rows, columns, digits, label)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        *("| " + " | ".join(row) + " |" for row in body),
        "",
        f"_{_caption(rows)}_",
    ]
    return "\n".join(lines) + "\n"


def rich_table(
    rows: Mapping[str, Entry],
    columns: Sequence[str] | None = None,
    digits: int = 4,
    title: str | None = None,
    label: str = "model",
) -> Table:
    """The same table for the terminal (``rich.console.Console().print(table)``)."""
    header, body = _cells(rows, columns, digits, label)
    table = Table(title=title, caption=_caption(rows))
    table.add_column(header[0])
    for name in header[1:]:
        table.add_column(name, justify="right")
    for row in body:
        table.add_row(*row)
    return table


def _caption(rows: Mapping[str, Entry]) -> str:
    """What ``±`` means in these rows (only the kinds of row the table has)."""
    single = [isinstance(entry, EvalResult) for entry in rows.values()]
    if all(single):
        return "± is the half-width of the 95% CI over users."
    if not any(single):
        return "± is the std across seeds."
    return "± is the 95% CI half-width over users for one run, the std across seeds for several."


def _cells(
    rows: Mapping[str, Entry], columns: Sequence[str] | None, digits: int, label: str
) -> tuple[list[str], list[list[str]]]:
    """Header and formatted body rows, shared by both renderers."""
    if not rows:
        raise ValueError("a results table needs at least one row")
    if columns is None:
        columns = [c for c in PUBLISHED_COLUMNS if c in default_columns(rows)]
        columns = columns or default_columns(rows)
    header = [label, *columns, "n"]
    body = []
    for name, entry in rows.items():
        cells, size = summarize_entry(entry)
        missing = [c for c in columns if c not in cells]
        if missing:
            raise ValueError(f"row {name!r} has no {missing}; it has {sorted(cells)}")
        body.append([name, *(_format(*cells[c], digits) for c in columns), size])
    return header, body


def _format(value: float, spread: float, digits: int) -> str:
    if math.isnan(spread):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ± {spread:.{digits}f}"
