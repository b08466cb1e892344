"""Collaborative and hybrid item embeddings for semantic IDs, from a trained SASRec run."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest

from genrec.config import load_config
from genrec.errors import ConfigError
from genrec.recipes.build_ids import IdsConfig, build_ids
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train

from ..conftest import cycle_dataset


@pytest.fixture(scope="module")
def sasrec_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("collab")
    cycle_dataset(n_users=60, n_items=40).save(root / "data")
    recipe = load_config(
        Recipe,
        {
            "run_dir": str(root / "run"),
            "data": {"format": "genrec", "path": str(root / "data")},
            "sasrec": {"hidden": 16, "layers": 1, "heads": 1, "ff_dim": 32},
            "train": {"epochs": 2, "batch_size": 32, "progress": False},
        },
    )
    train(recipe)
    return root


@pytest.mark.parametrize("embedding", ["collaborative", "hybrid"])
def test_ids_from_collaborative_and_hybrid_embeddings(sasrec_run, tmp_path, monkeypatch, embedding):
    monkeypatch.setenv("GENREC_CACHE", str(tmp_path / "cache"))
    config = load_config(
        IdsConfig,
        {
            "data": {"format": "genrec", "path": str(sasrec_run / "data")},
            "embedding": embedding,
            "collaborative_run": str(sasrec_run / "run"),
            "pca_dim": 8,
            "rkmeans": {"codebook_size": 4, "n_levels": 2},
            "out": str(tmp_path / "ids"),
            "progress": False,
        },
    )
    # The synthetic items have no text, which the hybrid's text part says.
    no_text = pytest.warns(UserWarning, match="40 of 40 items have none of the template fields")
    with no_text if embedding == "hybrid" else nullcontext():
        ids, diagnostics = build_ids(config)
    assert ids.n_items == 40 and diagnostics["final_collision_rate"] == 0.0
    expected_dim = 8 if embedding == "collaborative" else 8 + 8  # every part PCA-reduced to 8
    assert diagnostics["embedding_dim"] == expected_dim
    assert ids.metadata["embedding"] == embedding
    assert np.unique(ids.codes, axis=0).shape[0] == 40


def test_collaborative_needs_a_run(tmp_path):
    config = load_config(IdsConfig, {"embedding": "collaborative", "out": str(tmp_path / "ids")})
    with pytest.raises(ConfigError, match="collaborative_run"):
        build_ids(config)


def test_ids_folder_is_never_overwritten_unasked_nor_half_written(tmp_path, monkeypatch):
    from genrec.recipes import build_ids as module
    from genrec.sid.semantic_ids import SemanticIds

    cycle_dataset(n_users=20, n_items=40).save(tmp_path / "data")
    rng = np.random.default_rng(0)
    monkeypatch.setattr(module, "embed_items", lambda *_: rng.normal(size=(40, 8)))
    config = load_config(
        IdsConfig,
        {
            "data": {"format": "genrec", "path": str(tmp_path / "data")},
            "rkmeans": {"codebook_size": 4, "n_levels": 2},
            "out": str(tmp_path / "ids"),
            "progress": False,
        },
    )
    first, _ = build_ids(config)
    with pytest.raises(ConfigError, match="--overwrite"):
        build_ids(config)

    def killed(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "plot_usage", killed)  # dies after the codes are written
    with pytest.raises(KeyboardInterrupt):
        build_ids(config, overwrite=True)
    assert SemanticIds.load(tmp_path / "ids").fingerprint == first.fingerprint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "ids"]
    assert (tmp_path / "ids" / "diagnostics.json").is_file()
