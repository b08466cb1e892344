"""The ``leak_free`` protocol (the headline): every positive statement of the case's step.

They are handed over in the order the generator wrote them. They are a function of the history
alone (only ``users`` and ``steps`` are read, never the targets), so nothing about the target
can enter, and the model gets all the evidence the generator saw (pooled by the model).
"""

from __future__ import annotations

import numpy as np

from genrec.prefs.selection import Cases, StepStatements, step_statements


def choose(steps: StepStatements, item_vectors: np.ndarray, cases: Cases) -> np.ndarray:
    """Per case, the indices into ``steps.texts`` of every positive statement of its step, in
    generation order: ``[N, S]``, -1 padded. ``item_vectors`` and the targets are not read."""
    return step_statements(steps, cases)
