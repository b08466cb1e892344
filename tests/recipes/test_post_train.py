"""RL post-training of a recipe with `init_from:` (`genrec train` picks it): validation-gated,
resumable, bound to its start run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.config import load_config, save_config
from genrec.errors import ConfigError
from genrec.recipes import post_train as post_training
from genrec.recipes.evaluate import load_run
from genrec.recipes.post_train import post_train
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train
from genrec.sid.semantic_ids import SemanticIds
from genrec.training.checkpoint import load_state

from ..conftest import cycle_dataset, tiny_text_ids
from .test_llm_recipe import data_and_ids, llm_recipe  # noqa: F401 (a fixture)

DATA = {"format": "genrec", "max_history": 8}


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    """A finished decoder-only run on a small cycle dataset (the RL start)."""
    root = tmp_path_factory.mktemp("post_train")
    cycle_dataset(n_users=80, n_items=30).save(root / "data")
    data = {**DATA, "path": str(root / "data")}
    tiny_text_ids(data, root / "ids")
    recipe = {
        "model": "decoder_only",
        "run_dir": str(root / "sft"),
        "ids": str(root / "ids"),
        "data": data,
        "decoder_only": {"hidden": 16, "layers": 1, "heads": 2, "ff_dim": 32, "max_history": 8},
        "decode": {"beams": 10},
        "train": {"epochs": 2, "batch_size": 64, "lr": 0.005, "progress": False},
    }
    return train(load_config(Recipe, recipe)).path


def test_tiger_runs_are_post_trained_too(start, tmp_path):
    tiger = {
        "model": "tiger",
        "run_dir": str(tmp_path / "tiger"),
        "ids": str(start.parent / "ids"),
        "data": {**DATA, "path": str(start.parent / "data")},
        "tiger": {"encoder_layers": 1, "decoder_layers": 1, "heads": 2, "head_dim": 8},
        "decode": {"beams": 10},
        "train": {"epochs": 1, "batch_size": 64, "progress": False},
    }
    tiger = train(load_config(Recipe, tiger)).path
    run = post_train(rl_recipe(tiger, tmp_path / "srpo", steps=2))
    assert json.loads(run.manifest.read_text())["status"] == "finished"
    assert load_config(Recipe, run.config).model == "tiger" and run.epochs()[-1]["kl"] > 0
    # its config holds what post-training reads: the start's architecture, data and IDs
    stored = list(yaml.safe_load(run.config.read_text()))
    assert stored == [
        *("model", "run_dir", "data", "ids", "tiger"),
        *("decode", "train", "eval", "init_from", "rl"),
    ]


@pytest.fixture(scope="module")
def llm_start(data_and_ids, tiny_causal_lm, tmp_path_factory):  # noqa: F811
    """A finished tiny LLM run (a random 2-layer Llama aligned for a few steps)."""
    run_dir = tmp_path_factory.mktemp("llm-start") / "sft"
    return train(llm_recipe(data_and_ids, run_dir, tiny_causal_lm, epochs=1)).path


def rl_recipe(start, run_dir, train: dict | None = None, data: dict | None = None, **rl) -> Recipe:
    return load_config(
        Recipe,
        {
            "init_from": str(start),
            "run_dir": str(run_dir),
            "decode": {"beams": 10, "chain_tokens": 4},
            "train": {"lr": 0.003, "patience": 100, "progress": False, **(train or {})},
            "rl": {"steps": 6, "users_per_step": 8, "rollouts": 4, "eval_every": 2, **rl},
            **({"data": data} if data else {}),
        },
    )


@pytest.fixture(scope="module")
def held_start(start, tmp_path_factory):
    """The start's recipe trained without each user's last training transition."""
    recipe = load_config(
        Recipe,
        start / "config.yaml",
        [
            f"run_dir={tmp_path_factory.mktemp('held') / 'sft'}",
            "data.rl_holdout.slice=last_transition",
        ],
    )
    return train(recipe).path


def test_the_supervised_start_trains_without_the_rl_slice(start, held_start):
    _, _, full, _ = load_run(start)
    _, _, split, _ = load_run(held_start)
    assert full.rl is None and split.rl is not None
    has = full.train.lengths >= 2
    assert (split.train.lengths == full.train.lengths - has).all()
    assert split.rl.users.tolist() == np.flatnonzero(has).tolist()


def test_rl_rolls_out_on_the_slice_its_start_held_out(held_start, tmp_path, monkeypatch):
    seen = []
    real_step = post_training.srpo_step

    def recording(model, optimizer, histories, targets, *args, **kwargs):
        seen.append((histories.cpu(), targets.cpu()))
        return real_step(model, optimizer, histories, targets, *args, **kwargs)

    monkeypatch.setattr(post_training, "srpo_step", recording)
    run = post_train(rl_recipe(held_start, tmp_path / "held", steps=2), final=False)
    assert load_config(Recipe, run.config).data.rl_holdout.slice == "last_transition"
    _, _, split, _ = load_run(held_start)
    held = zip(split.rl.histories.tolist(), split.rl.targets.tolist(), strict=True)
    slice_rows = {(tuple(h), t) for h, t in held}
    drawn = [
        (tuple(h), t) for hs, ts in seen for h, t in zip(hs.tolist(), ts.tolist(), strict=True)
    ]
    assert len(drawn) == 16 and all(row in slice_rows for row in drawn)


def test_a_start_that_held_out_another_slice_is_refused(start, held_start, tmp_path):
    last = {"rl_holdout": {"slice": "last_transition"}}
    with pytest.raises(ConfigError, match=r"data.rl_holdout: .* last_transition .* none"):
        post_train(rl_recipe(start, tmp_path / "a", data=last))
    users = {"rl_holdout": {"slice": "users", "share": 0.2}}
    with pytest.raises(ConfigError, match=r"data.rl_holdout: .*users \(share 0.2.*last_transition"):
        post_train(rl_recipe(held_start, tmp_path / "b", data=users))


def test_post_training_is_validation_gated_and_reloads(start, tmp_path):
    run = post_train(rl_recipe(start, tmp_path / "srpo"))
    manifest = json.loads(run.manifest.read_text())
    assert manifest["status"] == "finished" and manifest["init_from"] == str(start)
    log = run.epochs()
    assert [r["step"] for r in log] == list(range(7))
    # the start is validated before any update, so the kept best is never below it
    validated = [r["valid/ndcg@10"] for r in log if "valid/ndcg@10" in r]
    assert len(validated) == 4
    assert load_state(run.best)["metrics"]["ndcg@10"] == max(validated) >= validated[0]
    assert any(r["kl"] > 0 for r in log[2:]) and log[1]["kl"] == 0.0
    assert (run.path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert 0.0 <= manifest["metrics"]["test"]["ndcg@10"] <= 1.0
    # the run is a decoder_only run like its start: evaluable and servable the same way
    recipe, _, _, recommender = load_run(run.path)
    assert recipe.model == "decoder_only" and recommender.n_items == 30


def test_the_cli_names_the_start_runs_model(start, tmp_path):
    path = tmp_path / "srpo.yaml"
    save_config(rl_recipe(start, tmp_path / "cli", steps=1), path)
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 0, result.output
    assert "decoder_only on" in result.output


@pytest.mark.parametrize("family", ["start", "llm_start"], ids=["decoder_only", "llm"])
def test_killed_run_resumes_to_the_same_weights(family, tmp_path, monkeypatch, request):
    start = request.getfixturevalue(family)
    reference = post_train(rl_recipe(start, tmp_path / "reference"))
    recipe = rl_recipe(start, tmp_path / "killed")
    steps = 0
    real_step = post_training.srpo_step

    def killed_at_step_4(*args, **kwargs):
        nonlocal steps
        steps += 1
        if steps == 4:  # after the checkpoint of step 2 and one step past it
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(post_training, "srpo_step", killed_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        post_train(recipe)
    monkeypatch.setattr(post_training, "srpo_step", real_step)
    resumed = post_train(recipe)
    for folder in ("last", "best"):
        want = load_file(getattr(reference, folder) / "model.safetensors")
        got = load_file(getattr(resumed, folder) / "model.safetensors")
        assert want.keys() == got.keys()
        assert all(np.array_equal(want[k].numpy(), got[k].numpy()) for k in want)
    timing = ("sample_seconds", "update_seconds", "valid_seconds")
    strip = [{k: v for k, v in r.items() if k not in timing} for r in reference.epochs()]
    assert [{k: v for k, v in r.items() if k not in timing} for r in resumed.epochs()] == strip


def test_a_kill_before_the_first_checkpoint_logs_the_start_once(start, tmp_path, monkeypatch):
    recipe = rl_recipe(start, tmp_path / "early", steps=2)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    real_save = post_training.save
    monkeypatch.setattr(post_training, "save", killed)  # dies right after the start's validation
    with pytest.raises(KeyboardInterrupt):
        post_train(recipe)
    monkeypatch.setattr(post_training, "save", real_save)
    assert [r["step"] for r in post_train(recipe).epochs()] == [0, 1, 2]


@pytest.mark.parametrize("mode", ["direct", "reasoning"])
def test_llm_runs_are_post_trained_in_both_modes(llm_start, tmp_path, mode):
    bf16 = {"mixed_precision": "bf16"}  # rollouts and updates autocast, weights stay float32
    run = post_train(rl_recipe(llm_start, tmp_path / mode, bf16, mode=mode, steps=2))
    assert json.loads(run.manifest.read_text())["status"] == "finished"
    recipe = load_config(Recipe, run.config)
    assert (
        recipe.model == "llm" and recipe.llm == load_config(Recipe, llm_start / "config.yaml").llm
    )
    log = run.epochs()
    assert log[1]["kl"] == 0.0 and ("well_formed" in log[1]) == (mode == "reasoning")
    if mode == "direct":  # the random chains of a tiny model never write <answer>: no update
        assert log[2]["kl"] > 0
    _, _, _, recommender = load_run(run.path)
    assert recommender.recommend(torch.tensor([[0, 1, 2]]), 5)[0].shape == (1, 5)


def test_a_benchmark_may_skip_the_final_evaluation(start, tmp_path):
    run = post_train(rl_recipe(start, tmp_path / "quick", steps=2), final=False)
    assert json.loads(run.manifest.read_text())["status"] == "post-trained (no final evaluation)"
    assert run.best.is_dir() and not run.eval_dir("test").exists()


def test_supervised_training_refuses_an_rl_recipe(start, tmp_path):
    with pytest.raises(ConfigError, match="init_from: .* is RL post-training"):
        train(rl_recipe(start, tmp_path / "supervised"))
    assert not (tmp_path / "supervised").exists()


def test_fp16_is_refused(start, tmp_path):
    with pytest.raises(ConfigError, match="train.mixed_precision=fp16"):
        post_train(rl_recipe(start, tmp_path / "fp16", {"mixed_precision": "fp16"}))


def test_reasoning_mode_needs_an_llm_run(start, tmp_path):
    with pytest.raises(ConfigError, match="rl.mode: .* decoder_only run"):
        post_train(rl_recipe(start, tmp_path / "r", mode="reasoning"))


@pytest.mark.parametrize("reward", [{"reward": "exact"}, {"prefix_credit": []}], ids=str)
def test_grpo_is_srpo_without_credit_and_bonus(start, tmp_path, reward):
    # rl.prefix_credit: [] is how recipes spelled the exact reward before rl.reward
    run = post_train(rl_recipe(start, tmp_path / "grpo", pass_at_k=None, steps=2, **reward))
    log = run.epochs()
    # an exact-match reward is the hit share itself
    assert all(r["reward"] == pytest.approx(r["exact"], abs=1e-6) for r in log[1:])


def test_a_rank_aware_run_rewards_beam_rollouts(start, tmp_path):
    run = post_train(
        rl_recipe(start, tmp_path / "ranked", reward="rank_aware", rollout="beam", steps=2)
    )
    log = run.epochs()
    # beams are distinct items: a group holding the target sums to 1 minus its wrong items'
    # penalties (their share of 1), in (0, 1]; one without it to 0. The mean is in [0, 1/n].
    assert all(-1e-6 <= r["reward"] <= 0.25 + 1e-6 for r in log[1:])
    assert load_config(Recipe, run.config).rl.reward == "rank_aware"


def test_refuses_a_run_that_is_not_generative(start, tmp_path):
    sasrec = tmp_path / "sasrec"
    sasrec.mkdir()
    save_config(load_config(Recipe, {"model": "sasrec"}), sasrec / "config.yaml")
    with pytest.raises(ConfigError, match="init_from: .* is a sasrec run"):
        post_train(rl_recipe(sasrec, tmp_path / "a"))
    with pytest.raises(ConfigError, match="not a run directory"):
        post_train(rl_recipe(tmp_path / "nothing", tmp_path / "b"))


def test_refuses_other_ids_and_another_model(start, tmp_path):
    ids = SemanticIds.load(start.parent / "ids")
    codes = np.random.default_rng(0).permutation(np.array(ids.codes))
    other = SemanticIds(codes, ids.codebook_sizes).save(tmp_path / "other-ids")
    recipe = rl_recipe(start, tmp_path / "c")
    with pytest.raises(ConfigError, match="ids: .* other semantic IDs"):
        post_train(load_config(Recipe, {**_plain(recipe), "ids": str(other)}))
    with pytest.raises(ConfigError, match="model: the recipe sets 'tiger'"):
        post_train(load_config(Recipe, {**_plain(recipe), "model": "tiger"}))


def _plain(recipe: Recipe) -> dict:
    from genrec.config import to_dict

    return {k: v for k, v in to_dict(recipe).items() if k in ("init_from", "run_dir", "rl")}


def test_the_rl_optimiser_warms_up_decays_and_schedules(start, tmp_path, monkeypatch):
    decays = []
    real_step = post_training.srpo_step

    def recording(model, optimizer, *args, **kwargs):
        decays.append(optimizer.param_groups[0]["weight_decay"])
        return real_step(model, optimizer, *args, **kwargs)

    monkeypatch.setattr(post_training, "srpo_step", recording)
    optimiser = {"lr": 0.01, "warmup_steps": 2, "lr_schedule": "cosine", "weight_decay": 0.1}
    run = post_train(rl_recipe(start, tmp_path / "opt", steps=4, **optimiser), final=False)
    lrs = [r["lr"] for r in run.epochs()[1:]]
    # a linear warm-up over 2 steps, then a half cosine that would reach 0 at step 4
    assert lrs == pytest.approx([0.005, 0.01, 0.01, 0.005], abs=1e-9)
    assert decays == [0.1] * 4
    # unset, they are train.lr and train.weight_decay at a constant rate, as before
    run = post_train(rl_recipe(start, tmp_path / "plain", steps=2), final=False)
    assert [r["lr"] for r in run.epochs()[1:]] == [0.003, 0.003]


def test_beam_rollouts_are_the_recommenders_lists(start, tmp_path, monkeypatch):
    from genrec.recommend.generative import GenerativeRecommender

    seen = {}
    real_step = post_training.srpo_step

    def recording(model, optimizer, histories, *args, **kwargs):
        if not seen:  # the start: compare with the recommender it is at this step
            recommender = GenerativeRecommender(
                model, model.ids, beams=10, token_offset=model.token_offset, dtype=torch.bfloat16
            )
            seen["want"] = recommender.recommend(histories, 4)[0]
            seen["got"] = kwargs["recommended"](histories, 4)
        return real_step(model, optimizer, histories, *args, **kwargs)

    monkeypatch.setattr(post_training, "srpo_step", recording)
    decode = {"precision": "bfloat16"}
    recipe = rl_recipe(start, tmp_path / "beams", rollout="beam", steps=1)
    recipe = load_config(Recipe, {**_plain(recipe), "decode": {"beams": 10, **decode}})
    post_train(recipe, final=False)
    assert torch.equal(seen["got"], seen["want"])


def test_the_cross_entropy_control_runs_the_same_loop(start, tmp_path):
    run = post_train(rl_recipe(start, tmp_path / "ce", objective="cross_entropy", steps=2))
    log = run.epochs()
    assert all("nll" in r and "reward" not in r for r in log[1:])
    assert json.loads(run.manifest.read_text())["status"] == "finished"
