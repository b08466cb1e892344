"""A trained run is bound to its semantic IDs and its split: other IDs, or a teacher, embedding
source or IDs from another split, are refused with a message naming both."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.config import load_config
from genrec.data.dataset import Dataset
from genrec.errors import ConfigError, DataError
from genrec.recipes.build_ids import IdsConfig, build_ids
from genrec.recipes.evaluate import load_ids, load_run
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train
from genrec.sid.semantic_ids import SemanticIds

from ..conftest import cycle_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

N_ITEMS = 30
SASREC = {"hidden": 16, "layers": 1, "heads": 1, "ff_dim": 32}
TRAIN = {"epochs": 1, "batch_size": 64, "lr": 0.005, "progress": False}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("binding")
    cycle_dataset(n_users=80, n_items=N_ITEMS, timestamps=True).save(root / "data")
    return root


def data(root, split: str = "leave_one_out", max_history: int = 8) -> dict:
    return {
        "format": "genrec",
        "path": str(root / "data"),
        "split": split,
        "max_history": max_history,
    }


def grid_ids(root, sizes: tuple[int, int] = (8, 4), swap: bool = False) -> SemanticIds:
    """Unique 2-level IDs for the items (no encoder needed); ``swap``: items 0 and 1 trade."""
    codes = np.array([[i // 4, i % 4] for i in range(N_ITEMS)])
    if swap:
        codes = codes[[1, 0, *range(2, N_ITEMS)]]
    fingerprint = Dataset.load(root / "data").fingerprint
    return SemanticIds(codes, sizes, None, {"dedup": "none", "fingerprint": fingerprint})


def test_generative_run_refuses_other_ids(root, tmp_path):
    folder = tmp_path / "ids"
    trained_ids = grid_ids(root)
    trained_ids.save(folder)
    recipe = load_config(
        Recipe,
        {
            "model": "decoder_only",
            "run_dir": str(tmp_path / "run"),
            "ids": str(folder),
            "data": data(root),
            "decoder_only": {"hidden": 16, "layers": 1, "heads": 2, "ff_dim": 32},
            "decode": {"beams": 10},
            "train": TRAIN,
        },
    )
    run = train(recipe)
    manifest = json.loads(run.manifest.read_text())
    assert manifest["ids"] == {"path": str(folder), "fingerprint": trained_ids.fingerprint}
    metrics = (run.eval_dir("test") / "metrics.json").read_text()

    # Rebuilt in place: two items trade IDs (same vocabulary), then another vocabulary.
    for other in (grid_ids(root, swap=True), grid_ids(root, sizes=(8, 5))):
        other.save(folder)
        for attempt in (lambda: load_run(run.path), lambda: train(recipe)):
            with pytest.raises(ConfigError) as error:
                attempt()
            message = str(error.value)
            assert str(folder) in message and "--overwrite" in message
            assert trained_ids.fingerprint in message and other.fingerprint in message
        result = CliRunner().invoke(app, ["evaluate", str(run.path)])
        assert isinstance(result.exception, ConfigError)
        assert other.fingerprint in str(result.exception)
        assert (run.eval_dir("test") / "metrics.json").read_text() == metrics  # not overwritten
        assert json.loads(run.manifest.read_text())["status"] == "finished"

    # A run written before runs recorded their IDs has nothing to compare: it loads, and other
    # weights shapes are a located error, not a raw RuntimeError.
    del manifest["ids"]
    run.manifest.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="do not fit"):
        load_run(run.path)
    trained_ids.save(folder)
    load_run(run.path)


@pytest.fixture(scope="module")
def temporal_sasrec(root):
    """A SASRec run on the temporal split: it trained on leave-one-out test targets."""
    recipe = {
        "run_dir": str(root / "temporal-sasrec"),
        "data": data(root, "temporal"),
        "sasrec": SASREC,
        "train": TRAIN,
    }
    return train(load_config(Recipe, recipe)).path


def test_teacher_must_share_the_split_and_read_the_students_histories(
    root, tmp_path, temporal_sasrec
):
    student = {
        "model": "decoder_only",
        "ids": str(grid_ids(root).save(tmp_path / "ids")),
        "decoder_only": {"hidden": 16, "layers": 1, "heads": 2, "ff_dim": 32},
        "distill": {"teacher": str(temporal_sasrec)},
        "train": TRAIN,
    }
    recipe = {**student, "run_dir": str(tmp_path / "loo"), "data": data(root)}
    with pytest.raises(ConfigError, match="distill.teacher") as error:
        train(load_config(Recipe, recipe))
    assert "split temporal" in str(error.value) and "split leave_one_out" in str(error.value)

    longer = {**student, "run_dir": str(tmp_path / "long"), "data": data(root, "temporal", 12)}
    with pytest.raises(ConfigError, match="max_history=12"):
        train(load_config(Recipe, longer))


def test_collaborative_ids_carry_the_runs_split(root, tmp_path, temporal_sasrec):
    def config(split: str, out: str) -> IdsConfig:
        return load_config(
            IdsConfig,
            {
                "data": data(root, split),
                "embedding": "collaborative",
                "collaborative_run": str(temporal_sasrec),
                "rkmeans": {"codebook_size": 4, "n_levels": 2},
                "out": str(tmp_path / out),
                "progress": False,
            },
        )

    with pytest.raises(ConfigError, match="collaborative_run") as error:
        build_ids(config("leave_one_out", "loo"))
    assert "split temporal" in str(error.value) and "split leave_one_out" in str(error.value)

    ids, _ = build_ids(config("temporal", "temporal"))
    assert ids.metadata["split"] == "temporal"
    dataset = Dataset.load(root / "data")
    generator = {"model": "tiger", "ids": str(tmp_path / "temporal")}
    load_ids(load_config(Recipe, {**generator, "data": data(root, "temporal")}), dataset)
    with pytest.raises(ConfigError, match="ids: ") as error:
        load_ids(load_config(Recipe, {**generator, "data": data(root)}), dataset)
    assert "split temporal" in str(error.value) and "split leave_one_out" in str(error.value)


def test_ids_of_other_data_say_to_rebuild_and_retrain(root, tmp_path):
    # IDs built before the data changed (e.g. before item text had its HTML entities decoded).
    ids = grid_ids(root)
    SemanticIds(ids.codes, ids.codebook_sizes, None, {"fingerprint": "0123abcd"}).save(
        tmp_path / "ids"
    )
    recipe = load_config(
        Recipe, {"model": "tiger", "ids": str(tmp_path / "ids"), "data": data(root)}
    )
    with pytest.raises(ConfigError, match="built for dataset 0123abcd") as error:
        load_ids(recipe, Dataset.load(root / "data"))
    assert "genrec ids build" in str(error.value) and "retrain" in str(error.value)
