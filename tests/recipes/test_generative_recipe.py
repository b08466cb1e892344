"""TIGER and the decoder-only generator train and evaluate through the shared recipe."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.config import load_config
from genrec.errors import ConfigError
from genrec.recipes.evaluate import load_ensemble, load_run
from genrec.recipes.recipe import Recipe
from genrec.recipes.recommend import RunRecommender
from genrec.recipes.train import train

from ..conftest import cycle_dataset, tiny_text_ids

SMALL = {
    "tiger": {
        "encoder_layers": 1,
        "decoder_layers": 1,
        "heads": 2,
        "head_dim": 8,
        "d_model": 16,
        "d_ff": 32,
        "max_history": 8,
    },
    "decoder_only": {"hidden": 16, "layers": 1, "heads": 2, "ff_dim": 32, "max_history": 8},
}


@pytest.fixture(scope="module")
def data_and_ids(tmp_path_factory):
    root = tmp_path_factory.mktemp("generative")
    cycle_dataset(n_users=80, n_items=30).save(root / "data")
    tiny_text_ids({"format": "genrec", "path": str(root / "data")}, root / "ids")
    return root


@pytest.mark.parametrize(
    ("model", "precision", "scoring"),
    [("tiger", "float32", "raw"), ("decoder_only", "bfloat16", "renormalized")],
)
def test_generative_model_trains_evaluates_and_reloads(
    data_and_ids, tmp_path, model, precision, scoring
):
    recipe = load_config(
        Recipe,
        {
            "model": model,
            "run_dir": str(tmp_path / "run"),
            "ids": str(data_and_ids / "ids"),
            "data": {"format": "genrec", "path": str(data_and_ids / "data"), "max_history": 8},
            model: SMALL[model],
            "decode": {"beams": 10, "precision": precision, "scoring": scoring},
            "train": {"epochs": 2, "batch_size": 64, "lr": 0.005, "progress": False},
        },
    )
    run = train(recipe)
    manifest = json.loads(run.manifest.read_text())
    assert manifest["status"] == "finished"
    assert len(run.epochs()) == 2 and "valid/ndcg@10" in run.epochs()[0]
    assert 0.0 <= manifest["metrics"]["test"]["recall@10"] <= 1.0

    _, _, split, recommender = load_run(run.path)
    import torch

    assert next(recommender.model.parameters()).dtype == getattr(torch, precision)
    assert recommender.scoring == scoring
    items, _ = recommender.recommend(torch.as_tensor(split.test.histories[:4]), k=5)
    assert items.shape == (4, 5) and (items >= 0).all()


def test_decoder_only_distils_from_a_sasrec_run(data_and_ids, tmp_path):
    data = {"format": "genrec", "path": str(data_and_ids / "data"), "max_history": 8}
    train_config = {"epochs": 1, "batch_size": 64, "lr": 0.005, "progress": False}
    sasrec = train(
        load_config(
            Recipe,
            {
                "model": "sasrec",
                "run_dir": str(tmp_path / "sasrec"),
                "data": data,
                "sasrec": {"hidden": 16, "heads": 1, "ff_dim": 32},
                "train": train_config,
            },
        )
    )
    recipe = {
        "model": "decoder_only",
        "ids": str(data_and_ids / "ids"),
        "data": data,
        "decoder_only": SMALL["decoder_only"],
        "decode": {"beams": 10},
        "train": train_config,
    }
    run = train(
        load_config(
            Recipe,
            {
                **recipe,
                "run_dir": str(tmp_path / "student"),
                "distill": {"teacher": str(sasrec.path), "weight": 0.5, "top": 5},
            },
        )
    )
    assert json.loads(run.manifest.read_text())["status"] == "finished"
    # The teacher must be a SASRec run: a generator run is refused, and so is TIGER as student.
    with pytest.raises(ConfigError, match="must be a sasrec run"):
        train(
            load_config(
                Recipe,
                {**recipe, "run_dir": str(tmp_path / "bad"), "distill": {"teacher": str(run.path)}},
            )
        )
    with pytest.raises(ConfigError, match="for model decoder_only"):
        load_config(Recipe, {"model": "tiger", "distill": {"teacher": str(sasrec.path)}})


def test_runs_on_the_same_ids_are_evaluated_as_one_ensemble(data_and_ids, tmp_path):
    data = {"format": "genrec", "path": str(data_and_ids / "data"), "max_history": 8}
    runs = [
        train(
            load_config(
                Recipe,
                {
                    "model": model,
                    "run_dir": str(tmp_path / model),
                    "ids": str(data_and_ids / "ids"),
                    "data": data,
                    model: SMALL.get(model, {"hidden": 16, "heads": 1, "ff_dim": 32}),
                    "decode": {"beams": 10},
                    "train": {"epochs": 1, "batch_size": 64, "lr": 0.005, "progress": False},
                },
            )
        ).path
        for model in ("tiger", "decoder_only", "sasrec")
    ]
    tiger, decoder_only, sasrec = map(str, runs)
    out = tmp_path / "ensemble"
    result = CliRunner().invoke(app, ["evaluate", tiger, decoder_only, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ensemble of 2 runs" in result.output
    assert json.loads((out / "manifest.json").read_text())["ensemble"] == [tiger, decoder_only]
    for split in ("valid", "test"):
        assert (out / "eval" / split / "per_user.parquet").is_file()

    result = CliRunner().invoke(app, ["evaluate", tiger, decoder_only])
    assert result.exit_code != 0 and "--out" in result.output
    with pytest.raises(ConfigError, match="only generative runs"):
        load_ensemble([tiger, sasrec])
    # by item ids, as `genrec recommend` and `genrec serve` answer: the same ensemble
    answer = RunRecommender([tiger, decoder_only]).recommend(history=["i1", "i2"], k=3)
    assert len(answer.items) == 3 and answer.history[-1].item_id == "i2"
    with pytest.raises(ConfigError, match="only generative runs"):
        RunRecommender([tiger, sasrec])


@pytest.mark.parametrize("hindsight", [0.0, 0.5])
@pytest.mark.parametrize("model", ["tiger", "decoder_only"])
def test_a_generator_trains_on_statements_and_is_evaluated_under_every_protocol(
    tmp_path, model, hindsight
):
    from ..prefs.conftest import rated_data_with_statements

    data = rated_data_with_statements(tmp_path)
    prefs = {"statements": str(tmp_path / "prefs"), "protocol": "oracle", "hindsight": hindsight}
    if hindsight:  # and validation that measures following
        prefs["also_valid"] = ["describes_target"]
    recipe = load_config(
        Recipe,
        {
            "model": model,
            "run_dir": str(tmp_path / "run"),
            "ids": str(tmp_path / "ids"),
            "data": data,
            model: SMALL[model],
            "decode": {"beams": 10},
            "train": {"epochs": 1, "batch_size": 4, "progress": False},
            "prefs": prefs,
        },
    )
    run = train(recipe)
    manifest = json.loads(run.manifest.read_text())
    assert manifest["prefs"]["protocol"] == "oracle" and len(manifest["prefs"]["fingerprint"]) == 16
    assert {
        "test",
        "test-leak_free",
        "test-describes_target",
        "test-category",
        "test-no-prefs",
    } <= set(manifest["metrics"])
    _, _, split, recommender = load_run(run.path)
    assert split.test.preferences is not None and any(split.test.preferences)
    assert recommender.model.statement is not None
    # trained with hindsight, it reads statements about the next item and the history apart
    assert recommender.model.statement.about == (hindsight > 0)
    logged = run.epochs()[0]
    assert ("valid/describes_target/ndcg@10" in logged) == (hindsight > 0)


def test_cold_items_are_merged_by_the_recipe_and_its_reloaded_run(data_and_ids, tmp_path):
    """decode.cold.items=text reaches validation, the final evaluation and load_run (so the
    CLI and the service) as one ColdItems over the items the training split never shows."""
    import numpy as np
    import torch

    from genrec.recommend.cold_items import untrained_items

    recipe = load_config(
        Recipe,
        {
            "model": "decoder_only",
            "run_dir": str(tmp_path / "run"),
            "ids": str(data_and_ids / "ids"),
            "data": {"format": "genrec", "path": str(data_and_ids / "data"), "max_history": 8},
            "decoder_only": SMALL["decoder_only"],
            "decode": {"beams": 10, "cold": {"items": "text", "slots": 2, "bias": 100.0}},
            "train": {"epochs": 1, "batch_size": 64, "progress": False},
        },
    )
    run = train(recipe)  # the IDs' fixture embedded the items' text already
    _, _, split, recommender = load_run(run.path)
    cold = untrained_items(split.train, split.n_items)
    assert recommender.cold is not None and recommender.cold.config == recipe.decode.cold
    assert recommender.cold.items.tolist() == np.flatnonzero(cold).tolist()
    histories = torch.as_tensor(split.test.histories[:4])
    items, _ = recommender.recommend(histories, k=5)
    # The cycle trains every item: nothing to merge, whatever the bias.
    assert not cold.any() and torch.equal(items, recommender.generate(histories, k=5)[0])
    # A trained run decodes with other decode settings without retraining.
    _, _, _, plain = load_run(run.path, decode=["cold.items=off"])
    assert plain.cold is None
    with pytest.raises(ConfigError, match="decode.cold.nope"):
        load_run(run.path, decode=["cold.nope=1"])
    result = CliRunner().invoke(app, ["evaluate", str(run.path), "--decode", "cold.items=off"])
    assert result.exit_code == 0, result.output
    assert (run.path / "eval" / "test-cold.items=off" / "metrics.json").is_file()


@pytest.mark.parametrize(
    ("model", "mode"), [("sasrec", "direct"), ("popularity", "direct"), ("llm", "reasoning")]
)
def test_cold_items_need_a_beam_search(model, mode):
    with pytest.raises(ConfigError, match=r"decode.cold.items=text.*decode.cold.items=off"):
        load_config(Recipe, {"model": model, "decode": {"mode": mode, "cold": {"items": "text"}}})


def test_cold_items_need_the_plain_beam_search_of_an_llm():
    """An LLM reading statements as text decodes through its prompted recommender, which
    merges no cold items: the recipe says so instead of ignoring decode.cold."""
    settings = {"model": "llm", "prefs": {"statements": "runs/prefs/x"}}
    with pytest.raises(ConfigError, match=r"statements in its prompts.*decode.cold.items=off"):
        load_config(Recipe, {**settings, "decode": {"cold": {"items": "text"}}})
