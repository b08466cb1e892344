"""RQ-VAE as in TIGER: an MLP autoencoder whose latent is residual-quantized over L codebooks.

``x [N, D] -> encoder -> z [N, d] -> L levels of nearest-code residual quantization -> sum of
codes -> decoder -> x_hat``. Loss = ||x_hat - x||^2 + sum_l ||sg[r_l] - e_l||^2 +
beta ||r_l - sg[e_l]||^2; gradients pass the quantizer by the straight-through estimator.
Every term is a squared L2 norm per item averaged over the batch, as in TIGER's formula:
averaging over dimensions instead weights reconstruction by 1/D against the 1/d of the code
terms, which on normalised 384-d text embeddings collapsed the latents (35-55% code usage
after 5 epochs instead of 98-100%).

Codebooks start from k-means on the first batch's residuals (random codes start far from the
data and die). Codes no item used during an epoch are re-initialised at random current
residuals of their level (sampled from the training items with the current weights), and
their Adam moments are cleared so stale momentum does not drag them away again: this is what
keeps codebook usage high. Training is one explicit loop through ``accelerate`` (CPU, or a GPU
when present); on CPU the result is identical for a given seed.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn
from tqdm.auto import tqdm

from genrec.config import bounded, configclass
from genrec.errors import ConfigError, DataError, NotFittedError
from genrec.sid.rkmeans import (
    check_codes,
    check_embeddings,
    kmeans,
    load_tensors,
    read_quantizer,
    squared_distances,
    write_quantizer,
)

#: Name recorded in ``quantizer.json``; ``load_quantizer`` dispatches on it.
TYPE = "rqvae"
_RESET_SAMPLE = 4096  # items encoded at an epoch's end to draw fresh codes from


@configclass
class RQVAEConfig:
    # TIGER: D -> 512 -> 256 -> 128 -> 32.
    hidden_dims: tuple[int, ...] = bounded((512, 256, 128), ge=1)
    latent_dim: int = bounded(32, ge=1)  # TIGER's code dimension
    n_levels: int = bounded(3, ge=1)
    codebook_size: int = bounded(256, ge=2)
    # Collisions rise with longer training while usage stays at 100% (Beauty, 3 x 256 codes:
    # 3.4% of items share a full code after 50 epochs, 5.0% after 100, 6.4% after 200).
    epochs: int = bounded(50, ge=1)
    # Large batches give k-means init and usage counts enough items.
    batch_size: int = bounded(1024, ge=1)
    # Adam's usual step; TIGER's Adagrad 0.4 is tuned for 20k epochs.
    lr: float = bounded(1e-3, gt=0)
    beta: float = bounded(0.25, ge=0)  # commitment weight (VQ-VAE, TIGER)
    kmeans_iter: int = bounded(20, ge=1)  # Lloyd steps of the codebook initialisation
    seed: int = bounded(0, ge=0, le=2**32 - 1)
    # "auto": a GPU when accelerate finds one.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    progress: bool = True  # tqdm bar over epochs


class RQVAEModule(nn.Module):
    """Encoder, L codebooks ``[L, K, d]`` and mirrored decoder."""

    def __init__(self, dim: int, cfg: RQVAEConfig) -> None:
        super().__init__()
        dims = (dim, *cfg.hidden_dims, cfg.latent_dim)
        self.encoder, self.decoder = _mlp(dims), _mlp(dims[::-1])
        self.codebooks = nn.Parameter(torch.zeros(cfg.n_levels, cfg.codebook_size, dims[-1]))
        self.beta = cfg.beta

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Codes ``[B, L]``, residuals entering each level (L x ``[B, d]``), codes ``[L, B, d]``."""
        residual, codes, residuals, vectors = z, [], [], []
        for codebook in self.codebooks:
            index = squared_distances(residual.detach(), codebook.detach()).argmin(dim=1)
            residuals.append(residual)
            vectors.append(codebook[index])
            codes.append(index)
            residual = residual - vectors[-1].detach()
        return torch.stack(codes, dim=1), residuals, torch.stack(vectors)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total loss, reconstruction loss, codes ``[B, L]``) for a batch ``x [B, D]``."""
        z = self.encoder(x)
        codes, residuals, vectors = self.quantize(z)
        quant = sum(
            _sq(e, r.detach()) + self.beta * _sq(r, e.detach())
            for r, e in zip(residuals, vectors, strict=True)
        )
        z_q = z + (vectors.sum(dim=0) - z).detach()  # straight-through: dz_q/dz = identity
        recon = _sq(self.decoder(z_q), x)
        return recon + quant, recon, codes


class RQVAE:
    """Quantizer: TIGER's RQ-VAE, trained by ``fit``; ``predict`` encodes + nearest codes."""

    def __init__(self, config: RQVAEConfig | None = None, **overrides: Any) -> None:
        known = {f.name for f in dataclasses.fields(RQVAEConfig)}
        if unknown := sorted(set(overrides) - known):
            raise ConfigError(f"RQVAE: unknown config keys {unknown} (known: {sorted(known)})")
        self.config = dataclasses.replace(config or RQVAEConfig(), **overrides)
        self.n_levels, self.codebook_size = self.config.n_levels, self.config.codebook_size
        self.model_: RQVAEModule | None = None  # on CPU, eval mode, once fitted
        self.codes_: np.ndarray | None = None  # [N, L] codes of the training items
        self.history_: list[dict[str, float]] = []  # one record per epoch

    def fit(self, embeddings: np.ndarray) -> RQVAE:
        """Train on float ``[N, D]`` (N >= K); returns self."""
        cfg = self.config
        x = torch.from_numpy(check_embeddings(embeddings, "fit", min_rows=cfg.codebook_size))
        with torch.random.fork_rng(devices=[]):  # seeded weights, caller's RNG left untouched
            torch.manual_seed(cfg.seed)
            model = RQVAEModule(x.shape[1], cfg)
        self.history_ = train_rqvae(model, x, cfg)
        self.model_ = model.cpu().eval()
        self.codes_ = self._codes(x)
        return self

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Codes ``[N, L]`` int64: encode, then the nearest code of each level's residual."""
        model = self._fitted()
        dim = model.encoder[0].in_features
        return self._codes(torch.from_numpy(check_embeddings(embeddings, "predict", dim=dim)))

    @torch.no_grad()
    def reconstruct(self, codes: np.ndarray) -> np.ndarray:
        """Embeddings ``[N, D]``: the decoder applied to the sum of the code vectors."""
        model = self._fitted()
        c = torch.from_numpy(check_codes(codes, self.n_levels, self.codebook_size))
        z_q = model.codebooks[torch.arange(self.n_levels), c].sum(dim=1)
        return model.decoder(z_q).numpy()

    def save(self, path: str | Path) -> None:
        """Write quantizer.json, codebooks.safetensors and weights.safetensors into ``path``."""
        model = self._fitted()
        weights = {k: v for k, v in model.state_dict().items() if k != "codebooks"}
        config = dataclasses.asdict(self.config)
        write_quantizer(
            path, TYPE, config, {"codebooks": {"codebooks": model.codebooks}, "weights": weights}
        )

    @classmethod
    def load(cls, path: str | Path) -> RQVAE:
        config, tensors = read_quantizer(path, TYPE, RQVAEConfig, ["codebooks"])
        file = Path(path) / "weights.safetensors"
        weights = load_tensors(file, ["encoder.0.weight"])
        model = RQVAEModule(weights["encoder.0.weight"].shape[1], config)
        try:
            model.load_state_dict({**weights, "codebooks": tensors["codebooks"]})
        except RuntimeError as exc:  # missing / unexpected keys, wrong shapes
            raise DataError(f"{file}: weights do not match the recorded config ({exc}).") from exc
        quantizer = cls(config)
        quantizer.model_ = model.eval()
        return quantizer

    @torch.no_grad()
    def _codes(self, x: torch.Tensor) -> np.ndarray:
        model = self._fitted()
        return torch.cat([model.quantize(model.encoder(b))[0] for b in x.split(8192)]).numpy()

    def _fitted(self) -> RQVAEModule:
        if self.model_ is None:
            raise NotFittedError(
                "RQVAE is not fitted: call fit(embeddings) first "
                "(or load a saved one with load_quantizer(path))."
            )
        return self.model_


def train_rqvae(model: RQVAEModule, x: torch.Tensor, cfg: RQVAEConfig) -> list[dict[str, float]]:
    """Train ``model`` in place on ``x [N, D]``; returns one record per epoch.

    Every process sees the same batches (no sharding): catalogues are small, and identical
    k-means inits and code resets on every process keep the replicas in step.
    """
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("RQVAEConfig.device='cuda' but no CUDA device is visible; use 'auto'.")
    accelerator = Accelerator(cpu=cfg.device == "cpu")
    generator = torch.Generator().manual_seed(cfg.seed)  # CPU draws: same order on any device
    adam = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    wrapped, optimizer = accelerator.prepare(model, adam)
    x = x.to(accelerator.device)
    n, size = len(x), cfg.batch_size
    history: list[dict[str, float]] = []
    bar = tqdm(range(cfg.epochs), desc="rqvae", disable=not cfg.progress)
    for epoch in bar:
        order = torch.randperm(n, generator=generator).to(x.device)
        if epoch == 0:  # k-means on the first batch (at least K items so every code is placed)
            init_codebooks(model, x[order[: max(size, cfg.codebook_size)]], cfg, generator)
        usage = torch.zeros(cfg.n_levels, cfg.codebook_size, device=x.device)
        wrapped.train()
        total = recon_total = 0.0
        for step in range(math.ceil(n / size)):
            batch = x[order[step * size : (step + 1) * size]]
            loss, recon, codes = wrapped(batch)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            usage.scatter_add_(1, codes.T, torch.ones_like(codes.T, dtype=usage.dtype))
            total += loss.item() * len(batch)
            recon_total += recon.item() * len(batch)
        used = (usage > 0).float().mean().item()
        dead = reset_dead_codes(model, x, usage == 0, adam, generator)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": total / n,
                "recon": recon_total / n,
                "usage": used,
                "reset": float(dead),
            }
        )
        bar.set_postfix(loss=f"{total / n:.4g}", usage=f"{used:.0%}")
    bar.close()
    return history


@torch.no_grad()
def init_codebooks(
    model: RQVAEModule, batch: torch.Tensor, cfg: RQVAEConfig, generator: torch.Generator
) -> None:
    """Level by level k-means on the residuals of ``batch [B, D]`` (B >= K)."""
    residual = model.encoder(batch)
    for level in range(cfg.n_levels):
        centroids, labels = kmeans(residual, cfg.codebook_size, cfg.kmeans_iter, generator)
        model.codebooks[level] = centroids
        residual = residual - centroids[labels]


@torch.no_grad()
def reset_dead_codes(
    model: RQVAEModule,
    x: torch.Tensor,
    dead: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> int:
    """Move codes unused this epoch (``dead [L, K]``) onto random current residuals."""
    if not dead.any():
        return 0
    pick = torch.randperm(len(x), generator=generator)[:_RESET_SAMPLE].to(x.device)
    residuals = model.quantize(model.encoder(x[pick]))[1]
    state = optimizer.state.get(model.codebooks, {})
    for level in range(len(dead)):  # L levels, each vectorised over its dead codes
        codes = dead[level].nonzero().squeeze(1)
        if len(codes) == 0:
            continue
        rows = torch.randint(len(pick), (len(codes),), generator=generator).to(x.device)
        model.codebooks[level, codes] = residuals[level][rows]
        for key in ("exp_avg", "exp_avg_sq"):  # fresh codes start without stale momentum
            if key in state:
                state[key][level, codes] = 0
    return int(dead.sum())


def _sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the squared L2 distance ``||a - b||^2`` of ``[B, d]`` rows."""
    return (a - b).pow(2).sum(dim=1).mean()


def _mlp(dims: tuple[int, ...]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=False)):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(dims) - 2 else [])
    return nn.Sequential(*layers)
