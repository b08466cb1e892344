"""Statement selection protocols: which statements of a case's step a model is handed, by name.

``PROTOCOLS`` maps each name to its ``Choose`` function (``genrec.prefs.selection``): ``oracle``
(Mender's, the one most similar to the target: an upper bound) and ``leak_free`` (every positive
statement of the step, chosen without the target: the headline). Training (the statements of
each example), evaluation (``prefs.protocol``, and the other protocols beside it) and the
preference benchmark all choose through it. A new protocol is one file here and one line in
``PROTOCOLS``.
"""

from __future__ import annotations

from genrec.config import registered
from genrec.prefs.protocols import leak_free, oracle
from genrec.prefs.selection import Choose

#: Protocol name (``prefs.protocol``, ``genrec bench prefs protocol=``) -> its choice.
PROTOCOLS: dict[str, Choose] = {
    "oracle": oracle.choose,
    "leak_free": leak_free.choose,
}


def protocol(name: str, key: str = "prefs.protocol") -> Choose:
    """The protocol ``name`` (``ConfigError`` naming ``key`` and the known names otherwise)."""
    return registered(PROTOCOLS, name, key)
