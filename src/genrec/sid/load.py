"""One loader for every kind of quantizer: the type recorded in ``quantizer.json`` picks the
class. It sits above the quantizers (which build on each other) so that none imports it."""

from __future__ import annotations

from pathlib import Path

from genrec.errors import DataError
from genrec.sid import rkmeans, rqvae
from genrec.sid.quantizer import Quantizer

#: Quantizer classes by the type their ``save`` records.
QUANTIZERS: dict[str, type[Quantizer]] = {
    rkmeans.TYPE: rkmeans.ResidualKMeans,
    rqvae.TYPE: rqvae.RQVAE,
}


def load_quantizer(path: str | Path) -> Quantizer:
    """Read any quantizer written by ``save``, dispatching on the type in ``quantizer.json``."""
    kind = rkmeans.read_quantizer_meta(path).get("type")
    if kind not in QUANTIZERS:
        raise DataError(
            f"{Path(path) / 'quantizer.json'}: unknown quantizer type {kind!r} "
            f"(known: {sorted(QUANTIZERS)})."
        )
    return QUANTIZERS[kind].load(path)
