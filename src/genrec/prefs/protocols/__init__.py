"""Statement selection protocols: which statements a case's model is handed, by name.

``PROTOCOLS`` maps each name to its ``Protocol``: how it chooses (``Choose``,
``genrec.prefs.selection``), what its statements describe (``about``: the history, as a
generator summarises it, or the item wanted next, as a user would type it), whether it looks at
the target (then its numbers are an upper bound, reported beside the leak-free ones only), and,
for a protocol that writes its own statements instead of choosing among the folder's, how.
Training (the statements of each example), evaluation (``prefs.protocol``, and the other
protocols beside it) and the preference benchmark all choose through it. A new protocol is one
file here and one line in ``PROTOCOLS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from genrec.config import registered
from genrec.data.dataset import Dataset
from genrec.prefs.preference import About
from genrec.prefs.protocols import category, describes_target, leak_free, oracle
from genrec.prefs.selection import Choose, StepStatements
from genrec.prefs.vectors import StatementEncoder

#: A protocol's own statements for every step of a dataset (category's "Looking for ...").
Write = Callable[[Dataset, StatementEncoder], StepStatements]


@dataclass(frozen=True)
class Protocol:
    """One selection protocol: see the module docstring."""

    choose: Choose
    about: About
    sees_target: bool
    write: Write | None = None  # None: it chooses among the statements folder's

    def pool(
        self, folder: StepStatements, dataset: Dataset, encoder: StatementEncoder
    ) -> StepStatements:
        """The statements ``choose`` indexes: the folder's, or the ones it writes."""
        return folder if self.write is None else self.write(dataset, encoder)


#: Protocol name (``prefs.protocol``, ``genrec bench prefs protocol=``) -> its entry.
PROTOCOLS: dict[str, Protocol] = {
    # Mender's: the step's statement most similar to the target (an upper bound).
    "oracle": Protocol(oracle.choose, "history", sees_target=True),
    # Every statement of the step, chosen without the target: the headline.
    "leak_free": Protocol(leak_free.choose, "history", sees_target=False),
    # Mender's steering choice: the statement of the whole pool nearest to the target.
    "describes_target": Protocol(describes_target.choose, "next", sees_target=True),
    # "Looking for <the target's category>": the history must pick within it.
    "category": Protocol(category.choose, "next", sees_target=True, write=category.statements),
}


def protocol(name: str, key: str = "prefs.protocol") -> Protocol:
    """The protocol ``name`` (``ConfigError`` naming ``key`` and the known names otherwise)."""
    return registered(PROTOCOLS, name, key)
