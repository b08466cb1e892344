"""`genrec train`'s run directory: a failed start leaves nothing and never blocks the corrected
command."""

from __future__ import annotations

import json

import pytest
import torch

from genrec.config import load_config, save_config
from genrec.errors import ConfigError, DataError
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train

from ..conftest import cycle_dataset

pytestmark = pytest.mark.usefixtures("one_thread")


def recipe(tmp_path, path: str, **train_config: object) -> Recipe:
    return load_config(
        Recipe,
        {
            "run_dir": str(tmp_path / "run"),
            "data": {"format": "genrec", "path": path, "max_history": 8},
            "sasrec": {"hidden": 16, "layers": 1, "heads": 1, "ff_dim": 32},
            "train": {"epochs": 1, "batch_size": 64, "progress": False, **train_config},
        },
    )


def test_a_failed_start_is_replaced_but_a_trained_run_is_kept(tmp_path, capsys):
    typo = recipe(tmp_path, str(tmp_path / "dat"))
    with pytest.raises(DataError):  # a typo in the data path: the run dies loading data
        train(typo)
    assert not (tmp_path / "run").exists()  # it never started: nothing is left

    # a run killed in its first epoch (its config written, no checkpoint) is replaced
    save_config(typo, tmp_path / "run" / "config.yaml")
    cycle_dataset(n_users=40).save(tmp_path / "data")
    run = train(recipe(tmp_path, str(tmp_path / "data")))
    assert f"replacing {run.path}" in capsys.readouterr().out
    assert json.loads(run.manifest.read_text())["status"] == "finished"

    with pytest.raises(ConfigError, match="--overwrite"):  # this one has checkpoints
        train(recipe(tmp_path, str(tmp_path / "data"), lr=0.01))
    train(recipe(tmp_path, str(tmp_path / "data"), lr=0.01), overwrite=True)


@pytest.mark.parametrize("model", ["bert4rec", "hstu"])
def test_the_other_sequential_models_train_resume_and_evaluate(tmp_path, model):
    """`model: bert4rec` and `model: hstu` go through the same recipe as SASRec: trained,
    checkpointed, evaluated on validation and test, and rebuilt from their run directory."""
    from genrec.recipes.evaluate import load_run

    cycle_dataset(n_users=60).save(tmp_path / "data")
    small = {"hidden": 16, "layers": 1, "heads": 2}
    config = {
        "model": model,
        "run_dir": str(tmp_path / "run"),
        "data": {"format": "genrec", "path": str(tmp_path / "data"), "max_history": 8},
        model: small,
        "train": {"epochs": 2, "batch_size": 64, "progress": False},
    }
    run = train(load_config(Recipe, config))
    manifest = json.loads(run.manifest.read_text())
    assert manifest["status"] == "finished"
    assert 0.0 <= manifest["metrics"]["test"]["ndcg@10"] <= 1.0
    _, _, split, recommender = load_run(run.path)
    assert type(recommender).__name__.lower() == model
    items, _ = recommender.recommend(torch.as_tensor(split.test.histories[:3]), k=5)
    assert items.shape == (3, 5)
