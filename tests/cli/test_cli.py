"""The `genrec` command end to end on small files: prepare, info, train, evaluate, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import polars as pl
import pytest
import torch
import yaml
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.data.dataset import Dataset

from ..conftest import cycle_dataset

runner = CliRunner()


def test_prepare_info_train_evaluate(tmp_path, fixtures):
    out = tmp_path / "toy"
    result = runner.invoke(
        app, ["data", "prepare", "recbole", str(fixtures / "raw" / "recbole"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    dataset = Dataset.load(out)
    assert "wrote" in result.output and dataset.n_users > 0

    result = runner.invoke(app, ["data", "info", str(out)])
    assert result.exit_code == 0 and "interactions" in result.output

    cycle_dataset(n_users=60).save(tmp_path / "cycle")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model": "sasrec",
                "run_dir": str(tmp_path / "run"),
                "data": {"format": "genrec", "path": str(tmp_path / "cycle")},
                "sasrec": {"hidden": 8, "layers": 1, "heads": 1, "ff_dim": 16},
                "train": {"epochs": 2, "progress": False},
            }
        )
    )
    result = runner.invoke(app, ["train", str(recipe), "train.batch_size=8"])
    assert result.exit_code == 0, result.output
    assert "recall@10" in result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["dataset"]["fingerprint"] == Dataset.load(tmp_path / "cycle").fingerprint

    result = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--exclude-history"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rows = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert rows == ["valid", "test"]  # one line per split through a pipe, under "split"
    assert "┃ split " in result.output
    per_user = pl.read_parquet(tmp_path / "run/eval/test-exclude-history/per_user.parquet")
    users = Dataset.load(tmp_path / "cycle").users
    assert per_user.join(users, on="user")["user_id_right"].equals(per_user["user_id"])
    # A run that ranks without the history, evaluated with it: the folder says which.
    config = yaml.safe_load((tmp_path / "run/config.yaml").read_text())
    config["eval"]["exclude_history"] = True
    (tmp_path / "run/config.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--keep-history"])
    assert result.exit_code == 0, result.output
    kept = pl.read_parquet(tmp_path / "run/eval/test-keep-history/per_user.parquet")
    assert kept.height == per_user.height

    # Killed mid-training: evaluating says so; before its first best checkpoint, it cannot.
    manifest["status"] = "training"
    (tmp_path / "run" / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "has not finished training (epoch 2 of 2); evaluating its best" in result.output
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "best")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run")])
    assert "no best checkpoint yet" in str(result.exception)


def test_bad_override_is_one_readable_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: sasrec\ntrain:\n  lr: -1\n  epochz: 3\n")
    proc = subprocess.run(
        [sys.executable, "-m", "genrec.cli.main", "train", str(recipe)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "train.epochz: unknown key" in proc.stderr
    assert "train.lr: expected a number > 0, got -1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_data_info_accepts_the_embedded_dataset_name():
    result = runner.invoke(app, ["data", "info", "office"])
    assert result.exit_code == 0, result.output
    assert "4905" in result.output and "2420" in result.output


def test_data_list_names_public_datasets():
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0 and "amazon2014-beauty" in result.output


def test_quickstart_runs_on_the_embedded_dataset(tmp_path):
    result = runner.invoke(
        app,
        ["quickstart", "--epochs", "1", "--run-dir", str(tmp_path), "--examples", "1"],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    for fragment in ("popularity", "sasrec", "recall@10", "held-out next item", "top 5"):
        assert fragment in result.output
    # Piped, the results table keeps each model on one line (rich would wrap at 80 columns).
    row = next(line for line in result.output.splitlines() if line.startswith("│ sasrec"))
    assert row.count("±") == 4 and row.endswith("users │")
    assert (tmp_path / "sasrec" / "checkpoints" / "best" / "model.safetensors").is_file()


HEAVY = (
    "torch",
    "transformers",
    "polars",
    "sentence_transformers",
    "matplotlib",
    "scipy",
    "fastapi",
    "uvicorn",
)


def test_cli_starts_without_heavy_libraries_and_threads_reach_torch():
    """`genrec --help` and `genrec data list` import none of the slow libraries; --threads set
    before torch loads still reaches it (through the variables torch reads when it loads)."""
    script = (
        "import json, sys\n"
        "import genrec.cli.main as cli\n"
        "from typer.testing import CliRunner\n"
        f"heavy = {HEAVY!r}\n"
        "loaded = {'import': [m for m in heavy if m in sys.modules]}\n"
        "for args in (['--help'], ['--threads', '2', 'data', 'list']):\n"
        "    assert CliRunner().invoke(cli.app, args).exit_code == 0\n"
        "    loaded[' '.join(args)] = [m for m in heavy if m in sys.modules]\n"
        "import torch\n"
        "loaded['torch threads'] = torch.get_num_threads()\n"
        "print(json.dumps(loaded))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the option beats the variable
    env.pop("GENREC_THREADS", None)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "import": [],
        "--help": [],
        "--threads 2 data list": [],
        "torch threads": 2,
    }


def test_threads_option_beats_variable_and_recipe_in_a_subcommand(
    tmp_path, keep_threads, monkeypatch
):
    cycle_dataset(n_users=30).save(tmp_path / "cycle")
    recipe = {
        "model": "popularity",
        "run_dir": str(tmp_path / "run"),
        "data": {"format": "genrec", "path": str(tmp_path / "cycle")},
        "train": {"threads": 1, "progress": False},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    monkeypatch.setenv("GENREC_THREADS", "1")  # the option beats the variable too
    result = runner.invoke(app, ["--threads", "2", "train", str(tmp_path / "r.yaml")])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 2
    monkeypatch.delenv("GENREC_THREADS")  # the option set it for the rest of this process
    result = runner.invoke(app, ["train", str(tmp_path / "r.yaml"), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 1  # without the option, the recipe's field


def test_bad_threads_variable_is_one_readable_error():
    env = {**os.environ, "GENREC_THREADS": "abc"}
    proc = subprocess.run(
        [sys.executable, "-m", "genrec.cli.main", "data", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2
    assert "GENREC_THREADS='abc': expected a whole number of threads" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_prepare_reviews_without_meta_derives_item_text(tmp_path, fixtures):
    out = tmp_path / "strings"
    folder = fixtures / "raw" / "amazon2014_reviews"
    args = ["data", "prepare", "amazon2014", str(folder), "--out", str(out)]
    with pytest.warns(UserWarning, match="reading the reviews alone"):
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    steps = Dataset.load(out).manifest["steps"]
    assert [(s["step"], s["split"]) for s in steps] == [("item_text_from_reviews", "leave_one_out")]
    result = runner.invoke(app, ["data", "info", str(out)])
    assert '"metadata": null' in result.output and "item_text_from_reviews" in result.output
