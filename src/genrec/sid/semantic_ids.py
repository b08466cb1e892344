"""SemanticIds: every item's code row, lookups both ways, the prefix trie, and cold start.

Built from a fitted quantizer and the items' embeddings (the caller fits), then made unique by
``"level"`` (TIGER's extra dedup token), ``"reassign"`` (LC-Rec: colliding items move to free
last-level codes, no extra token) or ``"none"``. Immutable; ``add_items`` returns a new object
in which old items keep their IDs, so a trained generator stays valid for them. On disk: a
folder with ``codes.safetensors`` (int64 ``[n_items, L']``), ``semantic_ids.json`` (codebook
sizes, metadata, codes checksum, content ``fingerprint``) and ``quantizer/`` (its own ``save``),
written atomically.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from genrec.atomic import atomic_dir
from genrec.errors import DataError, NotFittedError
from genrec.sid import collisions
from genrec.sid.collisions import CostFn
from genrec.sid.quantizer import Quantizer
from genrec.sid.trie import PrefixTrie

DEDUP_MODES = ("level", "reassign", "none")
FORMAT, VERSION = "genrec.semantic_ids", 1
CODES_FILE, META_FILE, QUANTIZER_DIR = "codes.safetensors", "semantic_ids.json", "quantizer"
#: Modules that may provide ``load_quantizer(path) -> Quantizer``, tried in order.
QUANTIZER_MODULES = ("genrec.sid.load",)

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True, eq=False)
class SemanticIds:
    """Immutable item -> semantic ID table: ``codes [n_items, L']`` int64 (row ``i`` is item
    ``i``'s ID; ``L' = L + 1`` with a dedup level), ``codebook_sizes`` per level, the fitted
    ``quantizer`` (``None`` if unavailable; only ``add_items`` needs it) and JSON ``metadata``
    (quantizer type, ``dedup`` mode, embedding source, text template, ...)."""

    codes: np.ndarray
    codebook_sizes: tuple[int, ...]
    quantizer: Quantizer | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes)
        if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
            raise DataError(f"codes must be an integer matrix [n_items, L]; got {codes.shape}")
        # A private copy over an immutable bytes buffer: its writeable flag cannot be turned on.
        raw = np.ascontiguousarray(codes, dtype=np.int64).tobytes()
        codes = np.frombuffer(raw, dtype=np.int64).reshape(codes.shape)
        sizes = tuple(int(k) for k in self.codebook_sizes)
        if len(sizes) != codes.shape[1]:
            raise DataError(f"{len(sizes)} codebook sizes for {codes.shape[1]} code levels")
        try:  # a private JSON copy: exact save/load round trip, no shared mutable state
            metadata = json.loads(json.dumps(dict(self.metadata)))
        except (TypeError, ValueError) as exc:
            raise DataError(f"metadata must be JSON-serialisable: {exc}") from exc
        _check_codes(codes, sizes, metadata.setdefault("dedup", "none"))
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "codebook_sizes", sizes)
        object.__setattr__(self, "metadata", MappingProxyType(metadata))

    @classmethod
    def build(
        cls,
        embeddings: np.ndarray,
        quantizer: Quantizer,
        dedup: str = "level",
        cost: np.ndarray | CostFn | None = None,
        dedup_size: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        codes: np.ndarray | None = None,
    ) -> SemanticIds:
        """IDs for ``embeddings [N, D]`` from a FITTED ``quantizer``, made unique by ``dedup``.

        ``cost [N, K]`` guides ``"reassign"`` (default: squared distance of each item to its
        reconstruction with each last-level code). ``dedup_size`` reserves room in the dedup
        level for cold-start items (default: the largest collision group). ``metadata``
        (embedding source, template, ...) is stored with the IDs. ``codes [N, L]`` replaces
        ``quantizer.predict(embeddings)``, e.g. balanced k-means' fit-time ``fit_predict`` codes.
        """
        if dedup not in DEDUP_MODES:
            raise ValueError(f"dedup must be one of {DEDUP_MODES}; got {dedup!r}")
        raw = _predict(quantizer, embeddings, codes)
        k = int(quantizer.codebook_size)
        sizes: tuple[int, ...] = (k,) * raw.shape[1]
        if dedup == "level":
            codes = collisions.add_dedup_level(raw)
            need = int(codes[:, -1].max(initial=0)) + 1
            if dedup_size is not None and dedup_size < need:
                raise DataError(
                    f"dedup_size={dedup_size} is too small: {need} items share one ID; "
                    f"pass dedup_size >= {need} or leave it unset"
                )
            sizes = (*sizes, need if dedup_size is None else int(dedup_size))
        elif dedup == "reassign":
            if cost is None:
                cost = collisions.reconstruction_cost(quantizer, embeddings, raw)
            codes = collisions.reassign_last_level(raw, k, cost=cost)
        else:
            codes = raw
        info = {"quantizer": _qualname(quantizer), "dedup": dedup, "n_built": len(raw)}
        info["collisions_before_dedup"] = collisions.count_collisions(raw)
        return cls(codes, sizes, quantizer, {**(metadata or {}), **info, "n_added": 0})

    @property
    def n_items(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_levels(self) -> int:
        """Tokens per ID (``L'``, including a dedup level)."""
        return int(self.codes.shape[1])

    @property
    def dedup(self) -> str:
        return str(self.metadata["dedup"])

    @property
    def vocab_size(self) -> int:
        """Number of distinct ID tokens, ``sum(codebook_sizes)``."""
        return sum(self.codebook_sizes)

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of what a generator trained on these IDs depends on: the codes, the
        codebook sizes (its vocabulary) and the dedup policy; metadata does not count."""
        h = hashlib.sha256(json.dumps([self.codebook_sizes, self.dedup, self.codes.shape]).encode())
        h.update(self.codes.tobytes())
        return h.hexdigest()[:16]

    @cached_property
    def trie(self) -> PrefixTrie:
        """Prefix trie over all IDs (built on first use, then cached)."""
        return PrefixTrie(self.codes, self.codebook_sizes)

    def item_to_codes(self, items: ArrayT) -> ArrayT:
        """Code rows ``[B, L']`` of item indices ``[B]`` (numpy in, numpy out; torch likewise)."""
        index = _to_numpy(items).astype(np.int64, copy=False)
        if index.size and (index.min() < 0 or index.max() >= self.n_items):
            raise IndexError(
                f"item indices must lie in [0, {self.n_items}); got {index.min()}..{index.max()}"
            )
        return _like(self.codes[index], items)

    def codes_to_items(self, codes: ArrayT) -> ArrayT:
        """Item index of each code row ``[B, L']`` -> ``[B]``, -1 where no item has that ID."""
        query = torch.from_numpy(np.array(_to_numpy(codes), dtype=np.int64))  # writable copy
        return _like(self.trie.lookup(query).numpy(), codes)

    def level_offsets(self, offset: int = 0) -> np.ndarray:
        """``[L']`` first token of each level: ``offset + sum(K_<l)``."""
        return offset + np.concatenate([[0], np.cumsum(self.codebook_sizes)[:-1]]).astype(np.int64)

    def tokens(self, items: ArrayT | None = None, offset: int = 0) -> np.ndarray | ArrayT:
        """IDs as tokens of one flat vocabulary ``[B, L']``: level ``l`` code ``c`` ->
        ``offset + sum(K_<l) + c``. ``offset`` leaves room for special tokens (pad, eos)."""
        codes = self.codes if items is None else _to_numpy(self.item_to_codes(items))
        out = codes + self.level_offsets(offset)
        return out if items is None else _like(out, items)

    def tokens_to_codes(self, tokens: ArrayT, offset: int = 0) -> ArrayT:
        """Inverse of ``tokens`` for ``[B, t]`` (``t <= L'``); raises if a token is off-level."""
        array = _to_numpy(tokens)
        codes = array - self.level_offsets(offset)[: array.shape[-1]]
        if ((codes < 0) | (codes >= np.asarray(self.codebook_sizes[: array.shape[-1]]))).any():
            raise DataError("some tokens do not belong to their position's ID level")
        return _like(codes, tokens)

    def add_items(self, embeddings: np.ndarray) -> SemanticIds:
        """A NEW SemanticIds with cold-start items ``N .. N + M - 1`` appended.

        Their codes come from ``quantizer.predict`` and are made unique consistently with the
        existing IDs (which never change): ``"level"`` gives the next free dedup number (the
        dedup vocabulary grows, with a warning, if it must), ``"reassign"`` a free last-level
        code under the same prefix, or raises ``DataError`` when there is none.
        """
        if self.quantizer is None:
            raise NotFittedError(
                "these SemanticIds have no quantizer (saved without one, or not loadable); "
                "attach a fitted one: dataclasses.replace(ids, quantizer=fitted)"
            )
        raw, sizes = _predict(self.quantizer, embeddings), self.codebook_sizes
        if raw.shape[1] != self.n_levels - (self.dedup == "level"):
            raise DataError(f"the quantizer gives {raw.shape[1]} levels; these IDs need others")
        rows = raw
        if self.dedup == "level":
            rows = collisions.add_dedup_level(raw, existing=self.codes)
            need = int(rows[:, -1].max(initial=0)) + 1
            if need > sizes[-1]:
                warnings.warn(
                    f"cold-start items need dedup codes up to {need - 1}; the dedup level grows "
                    f"from {sizes[-1]} to {need} codes (a generator trained on the old "
                    f"vocabulary cannot emit the new ones; build with a larger dedup_size)",
                    stacklevel=2,
                )
                sizes = (*sizes[:-1], need)
        elif self.dedup == "reassign":
            cost = collisions.reconstruction_cost(self.quantizer, embeddings, raw)
            rows = collisions.reassign_last_level(raw, sizes[-1], cost=cost, existing=self.codes)
        metadata = {**self.metadata, "n_added": int(self.metadata.get("n_added", 0)) + len(rows)}
        return SemanticIds(np.concatenate([self.codes, rows]), sizes, self.quantizer, metadata)

    def save(self, path: str | Path) -> Path:
        """Write the folder ``path`` atomically (see the module docstring for its layout)."""
        with atomic_dir(path) as tmp:
            save_file({"codes": np.ascontiguousarray(self.codes)}, str(tmp / CODES_FILE))
            if self.quantizer is not None:
                self.quantizer.save(tmp / QUANTIZER_DIR)
            header = dict(format=FORMAT, version=VERSION, n_items=self.n_items)
            header.update(
                codebook_sizes=list(self.codebook_sizes),
                codes_sha256=_digest(self.codes),
                fingerprint=self.fingerprint,
            )
            quantizer = None if self.quantizer is None else {"class": _qualname(self.quantizer)}
            header.update(quantizer=quantizer, metadata=dict(self.metadata))
            (tmp / META_FILE).write_text(json.dumps(header, indent=2) + "\n")
        return Path(path)

    @classmethod
    def load(
        cls, path: str | Path, load_quantizer: Callable[[Path], Quantizer] | None = None
    ) -> SemanticIds:
        """Read a folder written by ``save``; ``DataError`` names the file and what is wrong.

        The quantizer is loaded with ``load_quantizer`` or, by default, the ``load_quantizer``
        of ``genrec.sid.rkmeans`` / ``rqvae``; if none is available it is left ``None`` with a
        warning (lookups and the trie work; ``add_items`` does not).
        """
        path = Path(path)
        header = _read_header(path / META_FILE)
        codes = _read_codes(path / CODES_FILE, header)
        quantizer = _load_quantizer(path / QUANTIZER_DIR, header["quantizer"], load_quantizer)
        try:
            return cls(codes, tuple(header["codebook_sizes"]), quantizer, header["metadata"])
        except DataError as exc:
            raise DataError(f"{path}: inconsistent semantic IDs: {exc}") from exc

    def __reduce__(self) -> tuple[Any, ...]:  # pickling (e.g. DataLoader workers): rebuild
        return SemanticIds, (self.codes, self.codebook_sizes, self.quantizer, dict(self.metadata))

    def __repr__(self) -> str:
        fields = f"n_items={self.n_items}, codebook_sizes={self.codebook_sizes}"
        return f"SemanticIds({fields}, dedup={self.dedup!r}, {type(self.quantizer).__name__})"


def _predict(quantizer: Quantizer, embeddings: np.ndarray, codes: Any = None) -> np.ndarray:
    """Codes ``[N, L]`` (given, or from the quantizer), checked against its shape and range."""
    codes = np.asarray(quantizer.predict(embeddings) if codes is None else codes)
    n_levels, k = int(quantizer.n_levels), int(quantizer.codebook_size)
    ok = codes.shape == (len(embeddings), n_levels) and np.issubdtype(codes.dtype, np.integer)
    if not ok or (codes.size and (codes.min() < 0 or codes.max() >= k)):
        raise DataError(
            f"codes from {type(quantizer).__name__} are {codes.dtype} {codes.shape}; expected "
            f"integers in [0, {k}) of shape [{len(embeddings)}, {n_levels}]"
        )
    return codes.astype(np.int64, copy=False)


def _check_codes(codes: np.ndarray, sizes: tuple[int, ...], dedup: str) -> None:
    if dedup not in DEDUP_MODES:
        raise DataError(f"metadata 'dedup' must be one of {DEDUP_MODES}; got {dedup!r}")
    if codes.size:
        bad = np.argwhere((codes < 0) | (codes >= np.asarray(sizes)))
        if len(bad):
            row, level = (int(v) for v in bad[0])
            raise DataError(f"item {row}: code {codes[row, level]} outside [0, {sizes[level]})")
    if dedup != "none" and (n := collisions.count_collisions(codes)):
        raise DataError(f"dedup is {dedup!r} but {n} items share their ID with another item")


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata recorded in the folder ``path`` (item template, embedding, dedup, ...),
    without reading its codes or quantizer."""
    return dict(_read_header(Path(path) / META_FILE)["metadata"])


def _read_header(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise DataError(f"{file}: missing; is {file.parent} a folder written by SemanticIds.save?")
    try:
        header = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not valid JSON ({exc}); the file is corrupted") from exc
    head = (header.get("format"), header.get("version")) if isinstance(header, dict) else None
    if head != (FORMAT, VERSION):
        raise DataError(f"{file}: not a {FORMAT} version {VERSION} header ('format', 'version')")
    fields = {"n_items", "codebook_sizes", "codes_sha256", "quantizer", "metadata"}
    if missing := sorted(fields - header.keys()):
        raise DataError(f"{file}: missing fields {missing}")
    sizes = header["codebook_sizes"]
    if not isinstance(sizes, list) or not all(isinstance(k, int) and k >= 1 for k in sizes):
        raise DataError(f"{file}: 'codebook_sizes' must be a list of positive ints; got {sizes}")
    return header


def _read_codes(file: Path, header: dict[str, Any]) -> np.ndarray:
    if not file.is_file():
        raise DataError(f"{file}: missing; the semantic IDs folder is incomplete")
    try:
        codes = load_file(str(file))["codes"]
    except Exception as exc:  # safetensors raises its own error types
        raise DataError(f"{file}: cannot read the codes ({exc}); the file is corrupted") from exc
    expected = (header["n_items"], len(header["codebook_sizes"]))
    if codes.dtype != np.int64 or codes.shape != expected:
        raise DataError(f"{file}: codes {codes.dtype} {codes.shape}; header says int64 {expected}")
    if _digest(codes) != header["codes_sha256"]:
        raise DataError(f"{file}: checksum differs from {META_FILE}; the codes were altered")
    return codes


def _load_quantizer(
    folder: Path, info: dict[str, Any] | None, loader: Callable[[Path], Quantizer] | None
) -> Quantizer | None:
    if info is None:  # saved without a quantizer
        return None
    for name in QUANTIZER_MODULES if loader is None else ():
        try:
            loader = getattr(importlib.import_module(name), "load_quantizer", None)
        except ImportError:
            continue
        if loader is not None:
            break
    if loader is None:
        warnings.warn(
            f"no load_quantizer found in {QUANTIZER_MODULES} for {info!r}; the "
            f"quantizer in {folder} is not loaded, so add_items is unavailable",
            stacklevel=3,
        )
        return None
    try:
        return loader(folder)
    except Exception as exc:
        raise DataError(f"{folder}: cannot load the quantizer ({exc})") from exc


def _qualname(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _digest(codes: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(codes, dtype=np.int64).tobytes()).hexdigest()


def _to_numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)


def _like(result: np.ndarray, template: ArrayT) -> ArrayT:
    """``result`` as the same kind of array as ``template`` (torch on its device, or numpy)."""
    if isinstance(template, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(result)).to(template.device)
    return result
