"""The ``describes_target`` protocol (Mender's steering choice): the statement of the whole pool
that best describes the target.

Every positive statement of the folder (all users, all steps) is a candidate, ranked by the
cosine of its sentence vector to the target item's text, except those written only for the
case's own user (its own step among them: they were written from its items, the target perhaps
among them). As in Mender, validation takes the 2nd nearest and test the 3rd (``RANKS``), so
model selection never sees the test statement. It looks at the target: an upper bound like the
oracle, reported beside the leak-free numbers only.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from genrec.prefs.selection import Cases, Part, StepStatements

#: Which nearest statement each part of the data gets (1: the nearest).
RANKS: dict[Part, int] = {"train": 1, "valid": 2, "test": 3}
# Cases scored at once: [BATCH, T] scores stay ~100 MB for a pool of 200k statements.
BATCH = 128
# Candidates ordered exactly per case: ties further down than this are broken arbitrarily.
SPARE = 16


def choose(steps: StepStatements, item_vectors: np.ndarray, cases: Cases) -> np.ndarray:
    """Per case, the index into ``steps.texts`` of the ``RANKS[cases.part]``-th nearest
    statement to ``item_vectors[target]`` (unit rows) among those not written only for the
    case's user (ties to the lower index): ``[N, 1]``, -1 where there are too few."""
    rank = RANKS[cases.part]
    out = np.full((len(cases.users), 1), -1, dtype=np.int64)
    if len(steps.texts) < rank:
        return out
    vectors = torch.from_numpy(steps.vectors)
    owner = torch.from_numpy(sole_writer(steps))
    width = min(len(steps.texts), rank + SPARE)
    for start in range(0, len(cases.users), BATCH):
        rows = slice(start, start + BATCH)
        scores = torch.from_numpy(item_vectors[cases.targets[rows]]) @ vectors.T  # [b, T]
        own = owner[None, :] == torch.from_numpy(cases.users[rows]).long()[:, None]
        scores.masked_fill_(own, float("-inf"))
        values, index = torch.topk(scores, width, dim=1)
        index, by_index = index.sort(dim=1)  # ascending index: the stable sort breaks ties by it
        values, by_score = values.gather(1, by_index).sort(dim=1, descending=True, stable=True)
        picked = index.gather(1, by_score)[:, rank - 1]
        out[rows, 0] = torch.where(values[:, rank - 1].isfinite(), picked, -1).numpy()
    return out


def sole_writer(steps: StepStatements) -> np.ndarray:
    """``[T]``: the user a statement text was written for when only one user has it, else -1."""
    per_text = steps.rows.group_by("text").agg(
        pl.col("user").n_unique().alias("users"), pl.col("user").first()
    )
    single = per_text.filter(pl.col("users") == 1)
    owner = np.full(len(steps.texts), -1, dtype=np.int64)
    owner[single["text"].to_numpy()] = single["user"].to_numpy()
    return owner
