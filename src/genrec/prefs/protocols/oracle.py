"""The ``oracle`` protocol (Mender's): the step's positive statement most similar to the target.

Similarity is the cosine of sentence embeddings of the statement and of the target item's text
(one space: the statements' encoder is the items'). It looks at the target, so at evaluation it
is an upper bound, reported beside the leak-free number only. Training may use it freely: there
the target is a label (Mender does the same, ``prefs.oracle_rate``).
"""

from __future__ import annotations

import numpy as np

from genrec.prefs.selection import Cases, StepStatements, case_rows


def choose(steps: StepStatements, item_vectors: np.ndarray, cases: Cases) -> np.ndarray:
    """Per case, the index into ``steps.texts`` of the positive statement of its step with the
    highest cosine to ``item_vectors[target]`` (unit rows; ties go to the statement written
    first): ``[N, 1]``, -1 where the step has none."""
    rows = case_rows(steps, cases)
    text = rows["text"].to_numpy()
    score = np.einsum("nd,nd->n", steps.vectors[text], item_vectors[rows["target"].to_numpy()])
    best = (
        rows.with_columns(score=score)
        .with_row_index("order")
        .sort(["case", "score", "order"], descending=[False, True, False])
        .unique("case", keep="first", maintain_order=True)
    )
    out = np.full((len(cases.users), 1), -1, dtype=np.int64)
    out[best["case"].to_numpy(), 0] = best["text"].to_numpy()
    return out
