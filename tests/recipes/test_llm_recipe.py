"""`model: llm`: a tiny causal LM trains on alignment tasks, evaluates and reloads through the
shared recipe, and `genrec recommend` serves it."""

from __future__ import annotations

import json

import polars as pl
import pytest
import torch
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.config import load_config
from genrec.data.dataset import Dataset
from genrec.errors import ConfigError
from genrec.models.recommender import Reasons
from genrec.recipes.evaluate import load_run
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train

from ..conftest import cycle_dataset, tiny_text_ids

pytestmark = pytest.mark.usefixtures("one_thread")


def titled_cycle_dataset(n_items: int = 24) -> Dataset:
    """``cycle_dataset`` with a title per item (the LLM reads titles)."""
    data = cycle_dataset(n_users=60, n_items=n_items)
    inter = (
        data.interactions.join(data.users, on="user", maintain_order="left")
        .join(data.items.select("item", "item_id"), on="item", maintain_order="left")
        .select("user_id", "item_id")
    )
    titles = [f"Desk lamp model {i}" for i in range(n_items)]
    items = pl.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "title": titles})
    return Dataset.from_frames("titled", inter, items, source={"reader": "synthetic"})


@pytest.fixture(scope="module")
def data_and_ids(tmp_path_factory):
    root = tmp_path_factory.mktemp("llm-recipe")
    titled_cycle_dataset().save(root / "data")
    tiny_text_ids({"format": "genrec", "path": str(root / "data")}, root / "ids")
    return root


def llm_recipe(root, run_dir, source, mode="direct", **train):
    return load_config(
        Recipe,
        {
            "model": "llm",
            "run_dir": str(run_dir),
            "ids": str(root / "ids"),
            "data": {"format": "genrec", "path": str(root / "data"), "max_history": 8},
            "llm": {"source": str(source), "max_history": 4, "init": "titles"},
            "alignment": {"examples": 48, "mix": {"reasoning": 0.5 if mode == "reasoning" else 0}},
            "decode": {"beams": 10, "precision": "bfloat16", "mode": mode, "chain_tokens": 6},
            "eval": {"valid_users": 8, "batch_size": 16},
            "train": {
                "epochs": 2,
                "batch_size": 8,
                "lr": 0.001,
                "steps_per_epoch": 3,
                "progress": False,
                **train,
            },
        },
    )


@pytest.mark.parametrize("mode", ["direct", "reasoning"])
def test_llm_trains_in_capped_epochs_evaluates_and_reloads(
    data_and_ids, tiny_causal_lm, tmp_path, mode
):
    run = train(llm_recipe(data_and_ids, tmp_path / "run", tiny_causal_lm, mode))
    manifest = json.loads(run.manifest.read_text())
    assert manifest["status"] == "finished"
    epochs = run.epochs()
    assert [e["steps"] for e in epochs] == [3, 3]  # of 6 batches of 48 examples
    assert "valid/ndcg@10" in epochs[0]
    assert 0.0 <= manifest["metrics"]["test"]["recall@10"] <= 1.0

    _, _, split, recommender = load_run(run.path)
    histories = torch.as_tensor(split.test.histories[:4])
    items, scores = recommender.recommend(histories, k=5)
    assert items.shape == (4, 5) and (items >= 0).all()
    assert all(len(set(row)) == 5 for row in items.tolist())
    assert torch.isfinite(scores).all()
    assert isinstance(recommender, Reasons) == (mode == "reasoning")
    if mode == "reasoning":
        reasoned = recommender.reason(histories, k=5)
        assert torch.equal(reasoned.items, items) and len(reasoned.chains) == 4
    answer = CliRunner().invoke(app, ["recommend", str(run.path), "--history", "i1", "i2"])
    assert answer.exit_code == 0, answer.output
    assert ("reasoning:" in answer.output) == (mode == "reasoning")
    assert "top 10" in answer.output


def test_reasoning_mode_is_for_llm_only():
    with pytest.raises(ConfigError, match="decode.mode=reasoning"):
        load_config(Recipe, {"model": "decoder_only", "decode": {"mode": "reasoning"}})


def test_alignment_statements_are_for_llm_only(data_and_ids):
    with pytest.raises(ConfigError, match="alignment.statements"):
        load_config(
            Recipe,
            {"model": "sasrec", "alignment": {"statements": str(data_and_ids / "prefs")}},
        )
