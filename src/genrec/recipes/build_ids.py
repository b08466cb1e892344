"""`genrec ids build`: item embeddings -> fitted residual quantizer -> collision-free SemanticIds.

Writes the folder ``config.out`` whole or not at all (never over existing IDs without
``overwrite``): the SemanticIds folder (codes, sizes, quantizer), ``config.yaml``,
``diagnostics.json`` (per-level usage and perplexity, collisions before de-duplication,
reconstruction error, timings) and ``usage.png``.
"""

from __future__ import annotations

import json
import time
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from genrec.atomic import atomic_dir
from genrec.config import bounded, configclass, save_config, to_dict
from genrec.data.dataset import Dataset
from genrec.data.prepare import DataConfig, load_dataset
from genrec.errors import ConfigError
from genrec.families import families_that
from genrec.recipes.binding import TrainedOn, check_trained_on
from genrec.sid.diagnostics import plot_usage, report
from genrec.sid.rkmeans import ResidualKMeans, RKMeansConfig
from genrec.sid.rqvae import RQVAE, RQVAEConfig
from genrec.sid.semantic_ids import SemanticIds
from genrec.text.cache import item_embeddings
from genrec.text.encoder import EncoderConfig
from genrec.text.fusion import fuse
from genrec.text.template import ItemTemplate
from genrec.threads import use_threads


@configclass
class IdsConfig:
    """How item IDs are built: which embeddings, which quantizer, which collision policy."""

    data: DataConfig = field(default_factory=DataConfig)
    # "text": sentence embeddings of the item template; "collaborative": the item table of a
    # trained SASRec run (collaborative_run); "hybrid": both, normalised and concatenated.
    embedding: Literal["text", "collaborative", "hybrid"] = "text"
    template: ItemTemplate = field(default_factory=ItemTemplate)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    collaborative_run: str | None = None
    # PCA size of each embedding part before fusion (collaborative, hybrid); None keeps all.
    pca_dim: int | None = bounded(None, ge=1)
    # Residual k-means matched or beat RQ-VAE in the GRID ablation and fits in seconds.
    quantizer: Literal["rkmeans", "rqvae"] = "rkmeans"
    rkmeans: RKMeansConfig = field(default_factory=RKMeansConfig)
    rqvae: RQVAEConfig = field(default_factory=RQVAEConfig)
    # "level": TIGER's extra token numbering colliding items; "reassign": move colliding items
    # to free last-level codes (no extra token); "none": keep collisions.
    dedup: Literal["level", "reassign", "none"] = "level"
    out: str = "runs/ids/default"
    progress: bool = True
    # CPU threads of torch and numpy (null: genrec's default, half the cores up to 4); the
    # `genrec --threads N` option and the GENREC_THREADS variable take precedence.
    threads: int | None = bounded(None, ge=1)


def build_ids(config: IdsConfig, *, overwrite: bool = False) -> tuple[SemanticIds, dict[str, Any]]:
    """Build, save and diagnose semantic IDs for ``config``; returns them and the diagnostics.

    ``config.out`` must not exist yet (or be empty) unless ``overwrite``: runs trained on the
    IDs there would no longer match them. The folder is written whole or not at all.
    """
    use_threads(recipe=config.threads)
    out = Path(config.out)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(
            f"out: {out} already exists; runs trained on the IDs there refuse other IDs. Pick "
            "another folder (out=DIR) or pass --overwrite to replace it."
        )
    dataset = load_dataset(config.data)
    started = time.perf_counter()
    embeddings = embed_items(dataset, config)
    embed_seconds = time.perf_counter() - started

    started = time.perf_counter()
    if config.quantizer == "rkmeans":
        quantizer = ResidualKMeans.from_config(config.rkmeans)
        raw = quantizer.fit_predict(embeddings)  # balanced codes exist only at fit time
    else:
        quantizer = RQVAE(config.rqvae).fit(embeddings)
        raw = quantizer.predict(embeddings)
    fit_seconds = time.perf_counter() - started
    metadata = {
        "dataset": dataset.name,
        "fingerprint": dataset.fingerprint,
        "embedding": config.embedding,
        "template": config.template.to_dict(),
    }
    if config.embedding != "text":  # the run's split: a generator on another one would leak
        metadata.update(collaborative_run=config.collaborative_run, split=config.data.split)
    ids = SemanticIds.build(embeddings, quantizer, dedup=config.dedup, codes=raw, metadata=metadata)

    diagnostics = {
        **report(raw, quantizer.codebook_size, embeddings, quantizer.reconstruct(raw)),
        "final_collision_rate": _collision_rate(ids.codes),
        "embedding_seconds": round(embed_seconds, 2),
        "fit_seconds": round(fit_seconds, 2),
        "embedding_dim": int(embeddings.shape[1]),
        "config": to_dict(config),
    }
    with atomic_dir(out) as tmp:
        ids.save(tmp)
        save_config(config, tmp / "config.yaml")
        (tmp / "diagnostics.json").write_text(json.dumps(diagnostics, indent=2) + "\n")
        plot_usage(raw, quantizer.codebook_size, tmp / "usage.png")
    return ids, diagnostics


def embed_items(dataset: Dataset, config: IdsConfig) -> np.ndarray:
    """Item vectors ``[n_items, D]`` for the configured embedding source."""
    parts: list[np.ndarray] = []
    if config.embedding in ("text", "hybrid"):
        parts.append(
            item_embeddings(dataset, config.template, config.encoder, progress=config.progress)
        )
    if config.embedding in ("collaborative", "hybrid"):
        parts.append(collaborative_embeddings(dataset, config.data, config.collaborative_run))
    if len(parts) == 1 and config.embedding == "text":
        return parts[0]
    return fuse(parts, pca_dim=config.pca_dim, names=["text", "collaborative"][-len(parts) :])


def collaborative_embeddings(dataset: Dataset, data: DataConfig, run_dir: str | None) -> np.ndarray:
    """The item-embedding table ``[n_items, D]`` of a trained SASRec run on the same dataset and
    split (``data``: the split a generator on these IDs will use)."""
    from genrec.recipes.evaluate import load_run

    teachers = families_that(lambda can: can.distill == "teacher")  # item embeddings

    if not run_dir:
        raise ConfigError(
            "collaborative_run: required for collaborative / hybrid embeddings "
            f"(a run directory of `genrec train` with model: {teachers})"
        )
    recipe, trained_on, _, model = load_run(run_dir)
    if recipe.family.capabilities.distill != "teacher":  # item embeddings that score items
        raise ConfigError(f"collaborative_run: {run_dir} trained {recipe.model}, not {teachers}")
    check_trained_on(
        f"collaborative_run: {run_dir}",
        TrainedOn.of(trained_on, recipe.data),
        "the IDs are built for",
        TrainedOn.of(dataset, data),
        "use a run on the same data and split (data.split= sets the IDs' split).",
    )
    return model.item_emb.weight[1:].detach().cpu().numpy().astype(np.float32)


def _collision_rate(codes: np.ndarray) -> float:
    _, counts = np.unique(codes, axis=0, return_counts=True)
    return float(counts[counts > 1].sum() / len(codes))
