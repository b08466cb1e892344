"""The `genrec` command end to end on small files: prepare, info, train, evaluate, errors."""

from __future__ import annotations

import json
import subprocess
import sys

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
    assert (tmp_path / "run" / "eval" / "test-exclude-history" / "per_user.parquet").is_file()


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
    assert "train.epochz: unknown key" in proc.stderr and "train.lr must be > 0" in proc.stderr
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
        app, ["quickstart", "--epochs", "1", "--run-dir", str(tmp_path), "--examples", "1"]
    )
    assert result.exit_code == 0, result.output
    for fragment in ("popularity", "sasrec", "recall@10", "held-out next item", "top 5"):
        assert fragment in result.output
    assert (tmp_path / "sasrec" / "checkpoints" / "best" / "model.safetensors").is_file()
