"""`model: llm`: a tiny causal LM trains on alignment tasks, evaluates and reloads through the
shared recipe, and `genrec recommend` serves it."""

from __future__ import annotations

import json

import polars as pl
import pytest
import torch
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.config import load_config, to_dict
from genrec.data.dataset import Dataset
from genrec.errors import ConfigError
from genrec.models.llm_backbone import LLMBackbone
from genrec.models.llm_tasks import PHRASINGS
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


def test_curriculum_raises_the_share_of_reasoning_examples_stage_by_stage(
    data_and_ids, tiny_causal_lm, tmp_path, monkeypatch
):
    seen: list[torch.Tensor] = []
    forward = LLMBackbone.forward

    def spy(self, batch):
        seen.append(batch["task"].clone())
        return forward(self, batch)

    monkeypatch.setattr(LLMBackbone, "forward", spy)
    stages = [{"epochs": 1, "reasoning_share": 0.0}, {"epochs": 1, "reasoning_share": 1.0}]
    recipe = llm_recipe(data_and_ids, tmp_path / "run", tiny_causal_lm)
    recipe = load_config(
        Recipe,
        to_dict(recipe),
        ["alignment.mix.reasoning=0.5", f"alignment.curriculum={json.dumps(stages)}"],
    )
    train(recipe)
    chain = list(PHRASINGS).index("reasoning")
    first, second = torch.cat(seen[:3]), torch.cat(seen[3:6])
    assert len(seen) == 6 and (first != chain).all() and (second == chain).all()


def test_curriculum_fields_and_epochs_are_checked():
    base = {"model": "llm", "train": {"epochs": 3}, "alignment": {"mix": {"reasoning": 1.0}}}
    bad = [{"epochs": 0, "reasoning_share": 0.2}, {"epochs": 1, "share": 1}]
    with pytest.raises(ConfigError) as err:
        load_config(Recipe, base, [f"alignment.curriculum={json.dumps(bad)}"])
    assert "alignment.curriculum[0].epochs: expected an integer >= 1, got 0" in str(err.value)
    assert "alignment.curriculum[1].share: unknown key" in str(err.value)
    with pytest.raises(ConfigError, match="alignment.curriculum: expected a list of Curric"):
        load_config(Recipe, base, ["alignment.curriculum=3"])
    two = json.dumps([{"epochs": 1}, {"epochs": 1, "reasoning_share": 0.5}])
    with pytest.raises(ConfigError, match="stages last 2 epochs but train.epochs is 3"):
        load_config(Recipe, base, [f"alignment.curriculum={two}"])
    with pytest.raises(ConfigError, match="alignment.curriculum: .* for model llm, not sasrec"):
        load_config(Recipe, base | {"model": "sasrec"}, [f"alignment.curriculum={two}"])
    recipe = load_config(Recipe, base, [f"alignment.curriculum={two}", "train.epochs=2"])
    assert [s.reasoning_share for s in recipe.alignment.curriculum] == [0.0, 0.5]


@pytest.mark.parametrize("mode", ["direct", "reasoning"])
def test_llm_trains_with_statements_in_its_prompts_and_reads_them_at_test_time(
    tmp_path, tiny_causal_lm, mode
):
    from genrec.recommend.prompted import PromptedRecommender
    from genrec.recommend.reasoning import ReasoningRecommender

    from ..prefs.conftest import rated_data_with_statements

    data = rated_data_with_statements(tmp_path)
    recipe = load_config(
        Recipe,
        {
            "model": "llm",
            "run_dir": str(tmp_path / "run"),
            "ids": str(tmp_path / "ids"),
            "data": data,
            "llm": {"source": str(tiny_causal_lm), "max_history": 4},
            "alignment": {"examples": 32, "mix": {"reasoning": 0.5}},
            "decode": {"beams": 8, "mode": mode, "chain_tokens": 4},
            "eval": {"valid_users": 4, "batch_size": 16},
            "train": {"epochs": 1, "batch_size": 8, "steps_per_epoch": 2, "progress": False},
            "prefs": {  # direct mode also learns from hindsight statements
                "statements": str(tmp_path / "prefs"),
                "max_statements": 2,
                "hindsight": 0.5 if mode == "direct" else 0.0,
            },
        },
    )
    run = train(recipe)
    manifest = json.loads(run.manifest.read_text())
    assert manifest["prefs"]["protocol"] == "leak_free"
    assert {"test", "test-oracle", "test-no-prefs"} <= set(manifest["metrics"])
    _, _, split, recommender = load_run(run.path)
    kind = PromptedRecommender if mode == "direct" else ReasoningRecommender
    assert isinstance(recommender, kind) and recommender.max_statements == 2
    told = [i for i, p in enumerate(split.test.preferences) if p]
    assert told, "the attributes generator wrote statements for some test steps"
    histories = torch.as_tensor(split.test.histories[told[:2]])
    preferences = [split.test.preferences[i] for i in told[:2]]
    with_prefs = recommender.recommend(histories, k=3, preferences=preferences)[1]
    without = recommender.recommend(histories, k=3)[1]
    assert not torch.allclose(with_prefs, without)


def test_a_chat_endpoint_writes_the_chains_once_per_run(data_and_ids, tiny_causal_lm, tmp_path):
    from tests.prefs.chat_server import ChatServer

    good = "Evidence: lamps. Preference: desk lighting. Intent: another lamp."
    answers = [(200, good), (200, "no idea")]
    with ChatServer(lambda n, body: answers[n % 2]) as server:
        endpoint = [f"chains.openai.url={server.url}", "chains.openai.model=tiny"]
        recipe = load_config(
            Recipe,
            to_dict(llm_recipe(data_and_ids, tmp_path / "run", tiny_causal_lm, "reasoning")),
            ["chains.writer=openai", *endpoint, "train.epochs=1"],
        )
        run = train(recipe)
        asked = server.requests
    counts = json.loads(run.manifest.read_text())["chains"]
    assert asked > 0 and counts["ok"] > 0 and counts["no_intent"] > 0
    rows = (run.path / "chains.jsonl").read_text().splitlines()
    assert len(rows) == asked  # one cached chain per distinct prompt
    with pytest.raises(ConfigError, match="chains.writer=openai: chains are written for"):
        load_config(Recipe, {"model": "llm", "chains": {"writer": "openai"}})
