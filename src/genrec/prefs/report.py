"""What a statements folder holds: counts, lengths and examples per polarity, and a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from genrec.atomic import atomic_file
from genrec.prefs.polarity import POLARITIES
from genrec.prefs.statements import Statements


def summary(statements: Statements, examples: int = 3) -> dict[str, Any]:
    """Counts, mean length (characters) and ``examples`` texts per polarity, JSON-ready."""
    table = statements.table
    out: dict[str, Any] = {
        "statements": table.height,
        "steps": table.select("user", "step").n_unique() if table.height else 0,
        "users": table["user"].n_unique(),
        "per_step": round(table.height / max(1, table.select("user", "step").n_unique()), 2),
        "kinds": dict(sorted(table["kind"].value_counts().iter_rows())) if table.height else {},
        "skipped": dict(statements.skipped),
    }
    for p in POLARITIES:
        part = table.filter(pl.col("polarity") == p)
        lengths = part["text"].str.len_chars()
        # Evenly spaced rows rather than the first ones: the first users are not typical.
        picks = np.linspace(0, max(0, part.height - 1), num=min(examples, part.height)).astype(int)
        out[p] = {
            "count": part.height,
            "mean_chars": round(float(lengths.mean()), 1) if part.height else 0.0,
            "examples": [part["text"][int(i)] for i in picks],
        }
    return out


def plot_lengths(statements: Statements, path: str | Path) -> Path:
    """Write a PNG histogram of statement lengths (characters), one colour per polarity."""
    # matplotlib costs ~0.5 s to import; the bare Figure renders with Agg, no global state.
    from matplotlib.figure import Figure

    table = statements.table
    lengths = table["text"].str.len_chars().to_numpy()
    bins = np.linspace(0, max(10, int(lengths.max()) + 1 if len(lengths) else 10), 31)
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.subplots()
    for p, colour in zip(POLARITIES, ("tab:green", "tab:red"), strict=True):
        part = table.filter(pl.col("polarity") == p)["text"].str.len_chars().to_numpy()
        ax.hist(part, bins=bins, alpha=0.6, color=colour, label=f"{p} ({len(part)})")
    ax.set_xlabel("statement length (characters)")
    ax.set_ylabel("statements")
    ax.legend()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)
