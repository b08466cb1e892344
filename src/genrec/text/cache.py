"""On-disk cache of item embeddings: render, encode once, reuse across runs.

An entry is ``<key>.safetensors`` (the ``[n_items, D]`` float32 matrix) plus ``<key>.json``
(what produced it). The key hashes the model identity (weights digest and output settings)
together with the exact rendered texts, so a changed template, item table, or model can never
reuse stale vectors, while a change that leaves every item's text alone (e.g. filtering
interactions but keeping the same items in the same order) reuses them. Files are written
atomically; an entry that fails its checks is recomputed with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from genrec.atomic import atomic_file
from genrec.data.dataset import Dataset
from genrec.errors import ConfigError
from genrec.text.encoder import EncoderConfig, TextEncoder
from genrec.text.template import ItemTemplate

FORMAT_VERSION = 1  # bump when the entry layout changes; older entries are then misses
_TENSOR = "embeddings"


def default_cache_dir() -> Path:
    """``$GENREC_CACHE/embeddings``, else ``~/.cache/genrec/embeddings``."""
    root = os.environ.get("GENREC_CACHE") or Path.home() / ".cache" / "genrec"
    return Path(root).expanduser() / "embeddings"


def texts_digest(texts: list[str]) -> str:
    """sha256 of the texts in order (JSON keeps the boundaries between them unambiguous)."""
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode()).hexdigest()


def cache_key(model_identity: dict[str, Any], texts: list[str]) -> str:
    """24-hex key of (what determines the vectors, the exact texts encoded)."""
    determining = {k: model_identity[k] for k in ("weights", "normalize", "max_seq_length")}
    payload = json.dumps(
        {"format": FORMAT_VERSION, "model": determining, "texts": texts_digest(texts)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def item_embeddings(
    dataset: Dataset,
    template: ItemTemplate | None = None,
    encoder_config: EncoderConfig | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    *,
    encoder: TextEncoder | None = None,
) -> np.ndarray:
    """float32 ``[n_items, D]``: row ``i`` embeds item index ``i``'s rendered text.

    Pass ``encoder`` (instead of ``encoder_config``) to reuse an already loaded model. On a
    cache hit the model is not even loaded.
    """
    template = template or ItemTemplate()
    if encoder is None:
        encoder = TextEncoder(encoder_config)
    elif encoder_config is not None and encoder_config != encoder.config:
        raise ConfigError(
            f"item_embeddings: encoder_config {encoder_config} differs from the given encoder's "
            f"{encoder.config}; pass only one of them."
        )
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    texts = template.render(dataset.items)
    identity = encoder.identity()
    key = cache_key(identity, texts)
    cached = _read(root, key, len(texts))
    if cached is not None:
        return cached

    empty = int((~template.has_text(dataset.items)).sum())
    if empty:
        warnings.warn(
            f"{dataset.name}: {empty} of {len(texts)} items have none of the template fields "
            f"{list(template.fields)}; they are embedded from their item id, which carries no "
            "meaning. Add fields that these items have (e.g. description) if there are many.",
            stacklevel=2,
        )
    vectors = encoder.encode(texts, progress=progress)
    _write(
        root,
        key,
        vectors,
        _metadata(
            key,
            vectors,
            identity,
            texts,
            template=template.to_dict(),
            template_fingerprint=template.fingerprint(),
            dataset={"name": dataset.name, "fingerprint": dataset.fingerprint},
            items_without_text=empty,
        ),
    )
    return vectors


def text_embeddings(
    texts: list[str],
    encoder: TextEncoder,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """float32 ``[N, D]`` of any ``texts`` (e.g. preference statements), in order, cached like
    item embeddings under the key of (model identity, exact texts): the same statements
    folder is encoded once, and a changed text or model can never reuse stale vectors."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    identity = encoder.identity()
    key = cache_key(identity, texts)
    cached = _read(root, key, len(texts))
    if cached is not None:
        return cached
    vectors = encoder.encode(texts, progress=progress)
    _write(root, key, vectors, _metadata(key, vectors, identity, texts))
    return vectors


def entry_paths(cache_dir: str | Path, key: str) -> tuple[Path, Path]:
    """The (vectors, metadata) files of entry ``key``."""
    root = Path(cache_dir)
    return root / f"{key}.safetensors", root / f"{key}.json"


def _metadata(
    key: str, vectors: np.ndarray, model: dict[str, Any], texts: list[str], **extra: Any
) -> dict[str, Any]:
    """What an entry's JSON records: its key, shape and checksum, the model and texts it came
    from (``extra``: what else produced it, e.g. the item template and dataset)."""
    return {
        "format": FORMAT_VERSION,
        "key": key,
        "shape": list(vectors.shape),
        "dtype": "float32",
        "sha256": hashlib.sha256(vectors.tobytes()).hexdigest(),
        "model": model,
        **extra,
        "texts_sha256": texts_digest(texts),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _write(root: Path, key: str, vectors: np.ndarray, metadata: dict[str, Any]) -> None:
    """Vectors first, metadata last: an entry without (matching) metadata is never trusted."""
    tensor_path, meta_path = entry_paths(root, key)
    with atomic_file(tensor_path) as tmp:
        save_file({_TENSOR: vectors}, str(tmp), metadata={"key": key})
    with atomic_file(meta_path) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")


def _read(root: Path, key: str, n_rows: int) -> np.ndarray | None:
    """The cached matrix, or None on a miss or (with a warning) an entry that fails a check."""
    tensor_path, meta_path = entry_paths(root, key)
    if not tensor_path.exists() and not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        vectors = load_file(str(tensor_path))[_TENSOR]
        problem = _check(vectors, meta, key, n_rows)
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        problem = f"unreadable ({type(exc).__name__}: {exc})"
    if problem is None:
        return np.ascontiguousarray(vectors)
    warnings.warn(
        f"embedding cache entry {tensor_path} is corrupt ({problem}); recomputing it.",
        RuntimeWarning,
        stacklevel=3,
    )
    return None


def _check(vectors: np.ndarray, meta: dict[str, Any], key: str, n_rows: int) -> str | None:
    """What is wrong with a loaded entry, or None."""
    if meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
        return f"metadata is for format {meta.get('format')} / key {meta.get('key')}"
    if vectors.dtype != np.float32 or vectors.ndim != 2:
        return f"expected a float32 matrix, found {vectors.dtype} with {vectors.ndim} dims"
    if list(vectors.shape) != meta.get("shape") or vectors.shape[0] != n_rows:
        return f"shape {list(vectors.shape)}, expected {meta.get('shape')} with {n_rows} rows"
    if hashlib.sha256(vectors.tobytes()).hexdigest() != meta.get("sha256"):
        return "the vectors do not match the checksum in the metadata"
    return None
