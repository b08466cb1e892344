"""Residual k-means (plain or balanced): L rounds of k-means, each on what the last left over.

Level ``l`` clusters the residuals ``r_l = x - sum_{j<l} c_j[code_j]`` into K centroids, so the
codes form a coarse-to-fine hierarchy (similar items share prefixes). A large ablation found
it matches or beats RQ-VAE, and the balanced variant (GREAM) spreads items evenly over codes,
which keeps semantic-ID prefixes short and collisions rare.

Balanced assignment is capacity-constrained: every cluster holds at most ``ceil(N / K)``
points. It runs in vectorised rounds: each unplaced point proposes to its nearest cluster with
room left, every cluster accepts its closest proposers up to its remaining room. A cluster that
rejects anyone is full for good, so there are at most K + 1 rounds, and the bound is exact (no
slack). We prefer this to Sinkhorn / optimal transport, whose soft plan must be rounded (which
breaks the hard bound) and which adds a temperature to tune. Capacity applies to ``fit`` only:
``predict`` sends each (new) point to its nearest centroid, so use ``fit_predict`` / ``codes_``
for the balanced codes of the training items. (The boundary checks and the folder format that
every quantizer shares live here too.)
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from genrec.atomic import atomic_dir
from genrec.config import bounded, configclass
from genrec.errors import DataError, NotFittedError

#: Name recorded in ``quantizer.json``; ``load_quantizer`` dispatches on it.
TYPE = "residual_kmeans"


@configclass
class RKMeansConfig:
    # TIGER's 3 levels (a 4th token resolves collisions downstream).
    n_levels: int = bounded(3, ge=1)
    codebook_size: int = bounded(256, ge=2)  # K: 256^3 IDs, far more than catalogue sizes
    balanced: bool = False  # capacity-constrained assignment during fit (GREAM)
    # Lloyd steps per level; k-means++ init converges well within that.
    n_iter: int = bounded(25, ge=1)
    seed: int = bounded(0, ge=0, le=2**32 - 1)
    device: str = "cpu"  # where the distance matmuls run ("cuda" for large catalogues)


class ResidualKMeans:
    """Quantizer: L levels of (optionally balanced) k-means on residuals; torch, vectorised."""

    def __init__(
        self,
        n_levels: int = 3,
        codebook_size: int = 256,
        balanced: bool = False,
        n_iter: int = 25,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.config = RKMeansConfig(n_levels, codebook_size, balanced, n_iter, seed, device)
        self.n_levels, self.codebook_size = n_levels, codebook_size
        self.codebooks_: torch.Tensor | None = None  # [L, K, D] float32, CPU
        self.codes_: np.ndarray | None = None  # [N, L] codes of the training items (fit-time)

    @classmethod
    def from_config(cls, config: RKMeansConfig) -> ResidualKMeans:
        return cls(**dataclasses.asdict(config))

    def fit(self, embeddings: np.ndarray) -> ResidualKMeans:
        """Learn L codebooks from float ``[N, D]`` (N >= K); returns self."""
        cfg = self.config
        x = torch.from_numpy(check_embeddings(embeddings, "fit", min_rows=cfg.codebook_size))
        residual = x.to(cfg.device)
        generator = torch.Generator().manual_seed(cfg.seed)  # CPU: same draws on any device
        capacity = math.ceil(len(x) / cfg.codebook_size) if cfg.balanced else None
        codebooks, codes = [], []
        for _ in range(cfg.n_levels):
            centroids, labels = kmeans(
                residual, cfg.codebook_size, cfg.n_iter, generator, capacity=capacity
            )
            residual = residual - centroids[labels]
            codebooks.append(centroids)
            codes.append(labels)
        self.codebooks_ = torch.stack(codebooks).cpu()
        self.codes_ = torch.stack(codes, dim=1).cpu().numpy()
        return self

    def fit_predict(self, embeddings: np.ndarray) -> np.ndarray:
        """``fit`` and return the training codes ``[N, L]`` (balanced when ``balanced``)."""
        self.fit(embeddings)
        assert self.codes_ is not None
        return self.codes_

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Codes ``[N, L]`` int64: nearest centroid per level (no capacity for new items)."""
        codebooks = self._fitted()
        x = torch.from_numpy(check_embeddings(embeddings, "predict", dim=codebooks.shape[-1]))
        residual, codes = x, []
        for centroids in codebooks:
            labels = squared_distances(residual, centroids).argmin(dim=1)
            residual = residual - centroids[labels]
            codes.append(labels)
        return torch.stack(codes, dim=1).numpy()

    def reconstruct(self, codes: np.ndarray) -> np.ndarray:
        """Embeddings ``[N, D]``: the sum of each level's centroid for ``codes [N, L]``."""
        codebooks = self._fitted()
        c = torch.from_numpy(check_codes(codes, self.n_levels, self.codebook_size))
        levels = torch.arange(self.n_levels)
        return codebooks[levels, c].sum(dim=1).numpy()

    def save(self, path: str | Path) -> None:
        """Write ``quantizer.json`` + ``codebooks.safetensors`` into folder ``path``."""
        codebooks = self._fitted()
        write_quantizer(
            path, TYPE, dataclasses.asdict(self.config), {"codebooks": {"codebooks": codebooks}}
        )

    @classmethod
    def load(cls, path: str | Path) -> ResidualKMeans:
        config, tensors = read_quantizer(path, TYPE, RKMeansConfig, ["codebooks"])
        quantizer = cls.from_config(config)
        quantizer.codebooks_ = tensors["codebooks"].float()
        return quantizer

    def _fitted(self) -> torch.Tensor:
        if self.codebooks_ is None:
            raise NotFittedError(
                "ResidualKMeans is not fitted: call fit(embeddings) first "
                "(or load a saved one with load_quantizer(path))."
            )
        return self.codebooks_


def squared_distances(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """``[N, K]`` squared L2 distances via one matmul (never an ``[N, K, D]`` tensor)."""
    d = (x * x).sum(1, keepdim=True) - 2 * x @ centroids.T + (centroids * centroids).sum(1)
    return d.clamp_min_(0)


def kmeans(
    x: torch.Tensor,
    k: int,
    n_iter: int,
    generator: torch.Generator,
    capacity: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means with k-means++ init on ``x [N, D]``: (centroids ``[K, D]``, labels ``[N]``).

    With ``capacity`` every cluster takes at most that many points (``balanced_assign``).
    Empty clusters are re-seeded at the points farthest from their centroids, so all K codes
    stay in use. Deterministic for a given generator state.
    """
    centroids = kmeans_plus_plus(x, k, generator)
    for step in range(n_iter + 1):
        dist = squared_distances(x, centroids)
        labels = dist.argmin(1) if capacity is None else balanced_assign(dist, capacity)
        if step == n_iter:
            break
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        centroids = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centroids)
        empty = (counts == 0).nonzero().squeeze(1)
        if len(empty):
            # The worst-served points become the new centroids (deterministic, no RNG).
            own = dist.gather(1, labels[:, None]).squeeze(1)
            centroids[empty] = x[own.topk(len(empty)).indices]
    return centroids, labels


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding ``[K, D]``: a loop over the K centroids, vectorised over points."""
    norms = (x * x).sum(1)  # once, so each step is one mat-vec: ``||x - x_i||^2`` for all x
    chosen = [int(torch.randint(len(x), (1,), generator=generator))]
    closest = (norms - 2 * (x @ x[chosen[0]]) + norms[chosen[0]]).clamp_min_(0)
    for _ in range(1, k):
        # D^2 sampling; all-zero weights (duplicate points) would fail, so go uniform then.
        weights = closest.double().cpu() + float(closest.sum() == 0)
        chosen.append(i := int(torch.multinomial(weights, 1, generator=generator)))
        closest = torch.minimum(closest, (norms - 2 * (x @ x[i]) + norms[i]).clamp_min_(0))
    return x[chosen].clone()


def balanced_assign(dist: torch.Tensor, capacity: int) -> torch.Tensor:
    """Labels ``[N]`` from distances ``[N, K]`` with at most ``capacity`` points per cluster.

    Rounds of proposals: unplaced points propose to their nearest open cluster; each cluster
    accepts its closest proposers (ties by point index) up to its remaining room. Needs
    ``capacity * K >= N``.
    """
    n, k = dist.shape
    labels = torch.full((n,), -1, dtype=torch.long, device=dist.device)
    room = torch.full((k,), capacity, dtype=torch.long, device=dist.device)
    pending = torch.arange(n, device=dist.device)
    while len(pending):
        d = dist[pending].masked_fill(room[None, :] == 0, math.inf)
        best, choice = d.min(dim=1)
        order = torch.sort(best, stable=True).indices
        order = order[torch.sort(choice[order], stable=True).indices]  # by cluster, then dist
        sorted_choice = choice[order]
        counts = torch.bincount(sorted_choice, minlength=k)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(order), device=dist.device) - starts[sorted_choice]
        accept = rank < room[sorted_choice]
        labels[pending[order[accept]]] = sorted_choice[accept]
        room -= torch.bincount(sorted_choice[accept], minlength=k)
        pending = pending[order[~accept]].sort().values
    return labels


def check_embeddings(
    embeddings: Any, where: str, min_rows: int | None = None, dim: int | None = None
) -> np.ndarray:
    """Validate float ``[N, D]`` at a quantizer's boundary; returns a float32 C-contiguous copy."""
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise DataError(
            f"{where}: expected embeddings of shape [N, D] (2-D), found shape {x.shape}; "
            "reshape to one row per item."
        )
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise DataError(f"{where}: expected real numbers, found dtype {x.dtype}.")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if dim is not None and x.shape[1] != dim:
        raise DataError(
            f"{where}: embeddings have dimension {x.shape[1]}, but the quantizer was fitted on "
            f"dimension {dim}; encode items with the same text encoder used for fit."
        )
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if len(bad):
        raise DataError(f"{where}: {_rows(bad)}: NaN or inf values; fix or drop those items.")
    zero = np.flatnonzero(~x.any(axis=1))
    if len(zero):
        raise DataError(
            f"{where}: {_rows(zero)}: all zeros (zero-length embeddings, usually missing "
            "text); give those items text or drop them."
        )
    if min_rows is not None and len(x) < min_rows:
        raise DataError(
            f"{where}: {len(x)} items but codebook_size={min_rows}: k-means cannot place "
            f"{min_rows} distinct codes on fewer points, so codes would stay empty; lower "
            "codebook_size or fit on more items."
        )
    return x


def check_codes(codes: Any, n_levels: int, codebook_size: int) -> np.ndarray:
    """Validate integer codes ``[N, L]`` in ``[0, K)``; returns an int64 copy."""
    c = np.asarray(codes)
    if c.ndim != 2 or c.shape[1] != n_levels or not np.issubdtype(c.dtype, np.integer):
        raise DataError(
            f"reconstruct: expected integer codes of shape [N, {n_levels}], found "
            f"{c.dtype} {c.shape}."
        )
    bad = np.flatnonzero(((c < 0) | (c >= codebook_size)).any(axis=1))
    if len(bad):
        raise DataError(f"reconstruct: {_rows(bad)}: codes outside [0, {codebook_size}).")
    return c.astype(np.int64)


def write_quantizer(
    path: str | Path, kind: str, config: dict[str, Any], files: dict[str, dict[str, torch.Tensor]]
) -> None:
    """Atomically write folder ``path``: quantizer.json + one ``{stem}.safetensors`` per file."""
    with atomic_dir(path) as tmp:
        meta = {"type": kind, "format": 1, "config": config}  # tuples become JSON lists
        (tmp / "quantizer.json").write_text(json.dumps(meta, indent=2) + "\n")
        for stem, tensors in files.items():
            plain = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
            save_file(plain, tmp / f"{stem}.safetensors")


def read_quantizer_meta(path: str | Path) -> dict[str, Any]:
    """The parsed ``quantizer.json`` of folder ``path``; ``DataError`` naming the file."""
    file = Path(path) / "quantizer.json"
    if not file.is_file():
        raise DataError(f"{file}: missing; is {path} a folder written by a quantizer's save()?")
    try:
        meta = json.loads(file.read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ValueError("expected an object with 'type' and 'config'")
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: corrupted ({exc}); save the quantizer again.") from exc
    return meta


def read_quantizer(
    path: str | Path, kind: str, config_cls: type, keys: list[str]
) -> tuple[Any, dict[str, torch.Tensor]]:
    """(config, tensors) of a saved ``kind`` quantizer; every problem is a ``DataError``."""
    meta = read_quantizer_meta(path)
    where = Path(path) / "quantizer.json"
    if meta.get("type") != kind:
        raise DataError(f"{where}: records type {meta.get('type')!r}, expected {kind!r}.")
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    raw = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise DataError(f"{where}: unknown config keys {unknown} (known: {sorted(fields)}).")
    try:
        config = config_cls(**raw)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: invalid config ({exc}).") from exc
    tensors = load_tensors(Path(path) / "codebooks.safetensors", keys)
    return config, tensors


def load_tensors(file: Path, keys: list[str]) -> dict[str, torch.Tensor]:
    """safetensors ``file`` holding at least ``keys``; ``DataError`` naming it otherwise."""
    if not file.is_file():
        raise DataError(f"{file}: missing; the quantizer folder is incomplete, save it again.")
    try:
        tensors = load_file(file)
    except Exception as exc:  # safetensors raises its own error types
        raise DataError(f"{file}: cannot read tensors ({exc}); the file is corrupted.") from exc
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise DataError(f"{file}: lacks tensors {missing}; the file is corrupted.")
    return tensors


def _rows(rows: np.ndarray) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:10])
    more = f", ... ({len(rows)} rows in all)" if len(rows) > 10 else ""
    return f"row{'s' if len(rows) > 1 else ''} [{shown}{more}]"
