"""Results tables: one run (± CI half-width) and several seeds (± std)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from rich.console import Console

from genrec.eval import EvalResult
from genrec.eval.report import default_columns, markdown_table, rich_table


def result(recall10: float, n_users: int = 100) -> EvalResult:
    metrics = {"recall@10": recall10, "ndcg@10": recall10 / 2, "recall@5": recall10 / 2}
    ci = {name: (value - 0.01, value + 0.01) for name, value in metrics.items()}
    return EvalResult(metrics, ci, n_users, pl.DataFrame({"rank": np.zeros(n_users, np.int64)}))


def test_markdown_single_run_and_seeds() -> None:
    table = markdown_table(
        {"popularity": result(0.02), "sasrec": [result(0.08), result(0.09), result(0.10)]}
    )
    lines = table.splitlines()
    assert lines[0] == "| model | recall@5 | recall@10 | ndcg@10 | n |"
    assert lines[1] == "|---|---:|---:|---:|---:|"
    ci, std = "± 0.0100", "± 0.0050"
    assert lines[2] == f"| popularity | 0.0100 {ci} | 0.0200 {ci} | 0.0100 {ci} | 100 users |"
    assert lines[3] == f"| sasrec | 0.0450 {std} | 0.0900 {ci} | 0.0450 {std} | 3 seeds |"
    assert "95% CI" in lines[-1]


def test_explicit_columns_single_seed_and_missing_metric() -> None:
    table = markdown_table({"one seed": [result(0.1)]}, columns=["recall@10"], digits=2)
    assert "| one seed | 0.10 | 1 seed |" in table  # no std from a single seed
    with pytest.raises(ValueError, match="mrr@10"):
        markdown_table({"x": result(0.1)}, columns=["mrr@10"])


def test_default_columns_order_by_cutoff_then_metric() -> None:
    rows = {"a": result(0.1)}
    assert default_columns(rows) == ["recall@5", "recall@10", "ndcg@10"]


def test_rich_table_renders() -> None:
    console = Console(record=True, width=120)
    console.print(rich_table({"popularity": result(0.02)}, title="Beauty"))
    text = console.export_text()
    assert "Beauty" in text and "0.0200 ± 0.0100" in text


def test_splits_of_one_run_are_labelled_and_captioned_as_such() -> None:
    console = Console(record=True, width=120)
    rows = {"valid": result(0.02), "test": result(0.03)}
    console.print(rich_table(rows, title="sasrec on office", label="split"))
    header, *_ = (line for line in console.export_text().splitlines() if "recall@5" in line)
    assert header.split()[:2] == ["┃", "split"] and "model" not in header
    caption = markdown_table(rows, label="split").splitlines()[-1]
    assert caption == "_± is the half-width of the 95% CI over users._"  # no seeds here
