"""The training loop's progress display: validation decoding shows a bar when train.progress."""

from __future__ import annotations

import pytest

from genrec.config import load_config
from genrec.recipes import loop
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train

from ..conftest import cycle_dataset


@pytest.mark.parametrize("progress", [True, False])
def test_validation_shows_progress_with_the_epoch_bar(tmp_path, monkeypatch, capsys, progress):
    cycle_dataset(n_users=40).save(tmp_path / "data")
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["progress"])
        return evaluate(*args, **kwargs)

    evaluate = loop.evaluate
    monkeypatch.setattr(loop, "evaluate", spy)
    recipe = {
        "run_dir": str(tmp_path / "run"),
        "data": {"format": "genrec", "path": str(tmp_path / "data"), "max_history": 8},
        "sasrec": {"hidden": 8, "layers": 1, "heads": 1, "ff_dim": 16},
        "train": {"epochs": 2, "batch_size": 16, "progress": progress},
    }
    train(load_config(Recipe, recipe))
    assert seen == [progress, progress]  # one validation per epoch
    err = capsys.readouterr().err
    assert ("eval SASRec" in err and "epochs: 100%" in err) == progress


def test_a_launch_that_shards_the_model_is_refused_with_the_supported_config(tmp_path, monkeypatch):
    from accelerate import Accelerator, DistributedType

    from genrec.errors import ConfigError

    class Sharded(Accelerator):
        @property
        def distributed_type(self):
            return DistributedType.FSDP

    monkeypatch.setattr(loop, "Accelerator", Sharded)
    cycle_dataset(n_users=20).save(tmp_path / "data")
    recipe = {
        "run_dir": str(tmp_path / "run"),
        "data": {"format": "genrec", "path": str(tmp_path / "data"), "max_history": 8},
        "sasrec": {"hidden": 8, "layers": 1, "heads": 1, "ff_dim": 16},
        "train": {"epochs": 1, "batch_size": 16, "progress": False},
    }
    with pytest.raises(ConfigError, match="FSDP.*configs/accelerate/ddp.yaml"):
        train(load_config(Recipe, recipe))


def test_the_accelerate_configs_are_valid_launch_files():
    from pathlib import Path

    import yaml

    folder = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
    ddp, fsdp = (yaml.safe_load((folder / f"{n}.yaml").read_text()) for n in ("ddp", "fsdp"))
    assert ddp["distributed_type"] == "MULTI_GPU" and fsdp["distributed_type"] == "FSDP"
    assert fsdp["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
