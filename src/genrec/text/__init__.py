"""The text stage: item text templates, the sentence encoder, the embedding cache, fusion.

``item_embeddings(dataset)`` is the one call most code needs: it renders every item with an
``ItemTemplate``, encodes the texts with a ``TextEncoder`` and caches the matrix on disk.
"""

from genrec.text.cache import default_cache_dir, item_embeddings
from genrec.text.encoder import DEFAULT_MODEL, EncoderConfig, TextEncoder
from genrec.text.fusion import fuse
from genrec.text.template import ItemTemplate

__all__ = [
    "DEFAULT_MODEL",
    "EncoderConfig",
    "ItemTemplate",
    "TextEncoder",
    "default_cache_dir",
    "fuse",
    "item_embeddings",
]
