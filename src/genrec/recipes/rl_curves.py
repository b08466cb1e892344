"""The curves of an RL post-training run, one PNG: what to look at when it goes wrong.

Rewards rising while validation NDCG@10 falls is reward hacking on the training users; a
zero-variance share near 1 means the groups carry no signal (more rollouts, partial credit or
a higher temperature help); a KL running away means the learning rate is too high.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genrec.atomic import atomic_file

#: (log key, panel title) of the per-step curves.
PANELS = (
    ("reward", "mean reward"),
    ("exact", "share of exact hits"),
    ("zero_variance", "zero-variance groups (dropped)"),
    ("kl", "KL to the start (k3)"),
    ("valid/ndcg@10", "validation NDCG@10"),
)


def plot_curves(records: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write ``path`` (PNG): each of ``PANELS`` against the RL step, from the run's log."""
    # Imported here: matplotlib costs ~0.5 s to import. The bare Figure renders with Agg.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.0 * len(PANELS)), layout="constrained")
    axes = fig.subplots(len(PANELS), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (key, title) in zip(axes, PANELS, strict=True):
        points = [(r["step"], r[key]) for r in records if key in r]
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker="o" if key.startswith("valid/") else None, ms=3)
        ax.set_title(title, fontsize=10)
    axes[-1].set_xlabel("RL step")
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)
