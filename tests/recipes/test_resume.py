"""A run killed midway and started again ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from safetensors.torch import load_file

from genrec.config import load_config, save_config
from genrec.errors import ConfigError
from genrec.eval import EvalResult
from genrec.recipes.recipe import Recipe
from genrec.recipes.run import commit_config, open_run_dir, used_sections
from genrec.recipes.train import train
from genrec.training.run_dir import RunDir

from ..conftest import cycle_dataset


def make_recipe(tmp_path, name: str) -> Recipe:
    data = tmp_path / "data"
    if not data.exists():
        cycle_dataset().save(data)
    return load_config(
        Recipe,
        {
            "run_dir": str(tmp_path / name),
            "data": {"format": "genrec", "path": str(data), "max_history": 8},
            "sasrec": {"hidden": 16, "layers": 1, "heads": 1, "ff_dim": 32, "dropout": 0.2},
            "train": {
                "epochs": 12,
                "batch_size": 16,
                "lr": 0.005,
                # the schedule's position must survive the kill too
                "lr_schedule": "cosine",
                "warmup_steps": 5,
                "patience": 100,
                "progress": False,
            },
        },
    )


def with_train(recipe: Recipe, **changes) -> Recipe:
    """``recipe`` with its ``train`` section changed."""
    return dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, **changes))


def finished(recipe: Recipe) -> RunDir:
    """``recipe``'s run directory as a finished run leaves it, as far as opening it again
    looks: its config and a finished manifest (no weights: nothing here trains)."""
    run = open_run_dir(recipe, overwrite=False)
    commit_config(run, recipe)
    run.write_manifest(status="finished")
    return run


def assert_same_run(a: RunDir, b: RunDir) -> None:
    """Both runs ended with the same weights (best and last) and the same test metrics."""
    for checkpoint in ("best", "last"):
        x = load_file(getattr(a, checkpoint) / "model.safetensors")
        y = load_file(getattr(b, checkpoint) / "model.safetensors")
        assert all((x[k] == y[k]).all() for k in x)
    assert (
        EvalResult.load(a.eval_dir("test")).metrics == EvalResult.load(b.eval_dir("test")).metrics
    )


def test_killed_run_resumes_to_the_same_result(tmp_path):
    reference = train(make_recipe(tmp_path, "reference"))

    recipe = make_recipe(tmp_path, "killed")
    path = tmp_path / "killed.yaml"
    save_config(recipe, path)
    log = tmp_path / "killed" / "metrics.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "genrec.cli.main", "train", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 3:
            break
        time.sleep(0.005)
    assert proc.poll() is None, (
        f"run ended before it could be killed: {proc.stderr.read().decode()}"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    manifest = json.loads((tmp_path / "killed" / "manifest.json").read_text())
    assert manifest["status"] == "training"
    epochs_done = len(log.read_text().splitlines())
    assert 3 <= epochs_done < 12

    resumed = train(recipe)
    assert json.loads((resumed.path / "manifest.json").read_text())["status"] == "finished"
    assert len(log.read_text().splitlines()) == 12
    assert_same_run(reference, resumed)


def test_run_dir_with_other_config_is_refused(tmp_path):
    recipe = make_recipe(tmp_path, "run")
    train(recipe)
    with pytest.raises(ConfigError, match="different config"):
        train(with_train(recipe, lr=0.001))


def test_finished_run_extended_to_more_epochs_ends_where_a_longer_run_ends(tmp_path):
    """A constant-rate run asked for more epochs resumes from its last epoch; the result is the
    run that had that many epochs from the start."""
    reference = train(with_train(make_recipe(tmp_path, "reference"), lr_schedule="constant"))
    short = with_train(make_recipe(tmp_path, "extended"), lr_schedule="constant", epochs=5)
    train(short)
    extended = train(with_train(short, epochs=12))

    assert load_config(Recipe, extended.config).train.epochs == 12
    manifest = json.loads((extended.path / "manifest.json").read_text())
    assert manifest["status"] == "finished" and len(manifest["restarts"]) == 1
    assert len((extended.path / "metrics.jsonl").read_text().splitlines()) == 12
    assert_same_run(reference, extended)


def test_annealed_run_is_not_extended(tmp_path):
    """A cosine schedule spans train.epochs: more epochs would raise an annealed rate again."""
    recipe = with_train(make_recipe(tmp_path, "run"), epochs=3)
    train(recipe)
    with pytest.raises(ConfigError, match="only a constant-rate run can be extended"):
        train(with_train(recipe, epochs=6))
    # Fewer epochs is another config, not an extension.
    with pytest.raises(ConfigError, match="different config"):
        train(with_train(recipe, epochs=2, lr_schedule="constant"))
    assert load_config(Recipe, recipe.run_dir + "/config.yaml").train.epochs == 3


def test_run_from_an_older_recipe_schema_still_resumes(tmp_path):
    """A config.yaml written before a recipe section existed matches the defaults it gets now."""
    recipe = make_recipe(tmp_path, "old")
    run = finished(recipe)
    saved = yaml.safe_load(run.config.read_text())
    del saved["decode"]
    run.config.write_text(yaml.safe_dump(saved))
    assert open_run_dir(recipe, overwrite=False).path == run.path


def test_a_run_stores_only_the_sections_it_uses(tmp_path):
    recipe = make_recipe(tmp_path, "run")
    run = finished(recipe)
    stored = yaml.safe_load(run.config.read_text())
    assert list(stored) == ["model", "run_dir", "data", "sasrec", "decode", "train", "eval"]
    assert load_config(Recipe, run.config) == recipe  # the others load with their defaults


def test_used_sections_follow_the_family_ids_statements_and_rl():
    def used(**raw) -> tuple[str, ...]:
        return used_sections(load_config(Recipe, raw))

    common = ("model", "data", "decode", "train", "eval")
    assert used(model="popularity") == common
    assert used(model="hstu") == ("model", "data", "hstu", *common[2:])
    follows = {"statements": "prefs-dir"}
    assert used(model="tiger", ids="ids", prefs=follows) == (
        *("model", "data", "ids", "tiger"),
        *("decode", "train", "eval", "prefs"),
    )
    assert set(used(model="decoder_only", ids="ids")) == {*common, "ids", "decoder_only", "distill"}
    assert set(used(model="llm", ids="ids")) == {*common, "ids", "llm", "alignment", "chains"}
    # RL post-training reads its start's architecture, not what only supervised training reads
    rl = used(model="llm", ids="ids", init_from="runs/start")
    assert set(rl) == {*common, "ids", "llm", "init_from", "rl"}


def test_a_run_with_every_section_in_its_config_resumes_and_extends(tmp_path, capsys):
    """Runs written before runs kept their used sections alone, with another default in a
    section they never read, open again; their config is then written with its used ones."""
    recipe = with_train(make_recipe(tmp_path, "old"), lr_schedule="constant")
    run = finished(recipe)
    old = dataclasses.replace(recipe, tiger=dataclasses.replace(recipe.tiger, heads=8))
    save_config(old, run.config)  # every section, as runs wrote them before
    assert "tiger" in yaml.safe_load(run.config.read_text())
    assert open_run_dir(recipe, overwrite=False) == run
    commit_config(run, recipe)
    assert "tiger" not in yaml.safe_load(run.config.read_text())

    save_config(old, run.config)
    longer = with_train(recipe, epochs=13)
    commit_config(open_run_dir(longer, overwrite=False), longer)
    assert f"extending {run.path} from 12 to 13 epochs" in capsys.readouterr().out
    assert load_config(Recipe, run.config).train.epochs == 13


def test_another_default_in_an_unused_section_does_not_block_a_run(tmp_path):
    """As when a family the run does not use gets a new default (TIGER's, for SASRec)."""
    recipe = make_recipe(tmp_path, "run")
    run = finished(recipe)
    changed = dataclasses.replace(recipe, tiger=dataclasses.replace(recipe.tiger, heads=8))
    assert open_run_dir(changed, overwrite=False) == run


def test_a_mismatch_names_each_key_that_differs(tmp_path):
    recipe = make_recipe(tmp_path, "run")
    run = finished(recipe)
    before = run.config.read_text()
    other = with_train(
        dataclasses.replace(recipe, sasrec=dataclasses.replace(recipe.sasrec, hidden=32)),
        lr=0.001,
        lr_schedule="constant",
    )
    with pytest.raises(ConfigError) as error:
        open_run_dir(other, overwrite=False)
    message = str(error.value)
    assert "holds a run with a different config" in message and "--overwrite" in message
    lines = [line.removeprefix("  - ") for line in message.splitlines() if line.startswith("  - ")]
    assert lines == [
        "sasrec.hidden: 16 -> 32",
        "train.lr: 0.005 -> 0.001",
        "train.lr_schedule: cosine -> constant",
    ]
    assert run.config.read_text() == before  # refused: the run keeps its config


def test_a_moved_run_directory_resumes(tmp_path):
    recipe = with_train(make_recipe(tmp_path, "run"), epochs=2)
    reference = train(recipe)
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    shutil.move(reference.path, moved)
    run = train(dataclasses.replace(recipe, run_dir=str(moved)))
    manifest = json.loads(run.manifest.read_text())
    assert len(manifest["restarts"]) == 1 and len(run.epochs()) == 2  # resumed, not retrained
    assert load_config(Recipe, run.config).run_dir == str(moved)  # it says where it is now


@pytest.mark.parametrize("name", ["state.json", "state.safetensors", "model.safetensors"])
def test_corrupted_last_checkpoint_is_a_located_error(tmp_path, name):
    from genrec.errors import DataError

    recipe = make_recipe(tmp_path, "run")
    recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, epochs=2))
    run = train(recipe)
    (run.last / name).write_bytes(b'{"truncated')
    with pytest.raises(DataError) as error:
        train(recipe)
    message = str(error.value)
    assert str(run.last / name) in message and "--overwrite" in message
    assert "to restart training from scratch" in message


def test_a_failed_extension_leaves_the_run_as_it_was(tmp_path):
    from genrec.errors import DataError

    recipe = with_train(make_recipe(tmp_path, "run"), epochs=2, lr_schedule="constant")
    run = train(recipe)
    (run.last / "state.json").write_bytes(b'{"truncated')
    config, manifest = run.config.read_text(), run.manifest.read_text()
    with pytest.raises(DataError, match="cannot resume"):
        train(with_train(recipe, epochs=7))
    assert run.config.read_text() == config  # still 2 epochs
    assert run.manifest.read_text() == manifest  # still finished, not training


def test_a_run_that_fails_before_it_starts_leaves_nothing(tmp_path):
    from genrec.errors import GenrecError

    recipe = make_recipe(tmp_path, "run")
    recipe = dataclasses.replace(recipe, ids=str(tmp_path / "no-ids"), model="tiger")
    with pytest.raises(GenrecError):
        train(recipe)
    assert not (tmp_path / "run").exists()
