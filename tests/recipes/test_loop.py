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


@pytest.mark.parametrize(
    ("kind", "fsdp_version", "mixed", "key"),
    [
        ("FSDP", 1, "no", "fsdp_version: 1"),
        ("FSDP", 2, "bf16", "decode.precision=float32 with train.mixed_precision=bf16"),
        ("DEEPSPEED", None, "no", "distributed_type: DEEPSPEED"),
    ],
)
def test_a_launch_the_loop_cannot_run_is_refused_naming_the_key(
    tmp_path, monkeypatch, kind, fsdp_version, mixed, key
):
    from accelerate import Accelerator, DistributedType

    from genrec.errors import ConfigError

    class Launched(Accelerator):
        def __init__(self, cpu: bool, mixed_precision: str) -> None:
            super().__init__(cpu=cpu)  # accelerate's state is set once per process

        @property
        def mixed_precision(self):
            return mixed

        @property
        def distributed_type(self):
            return DistributedType[kind]

        @property
        def is_fsdp2(self):
            return fsdp_version == 2

    monkeypatch.setattr(loop, "Accelerator", Launched)
    cycle_dataset(n_users=20).save(tmp_path / "data")
    recipe = {
        "run_dir": str(tmp_path / "run"),
        "data": {"format": "genrec", "path": str(tmp_path / "data"), "max_history": 8},
        "sasrec": {"hidden": 8, "layers": 1, "heads": 1, "ff_dim": 16},
        "train": {"epochs": 1, "batch_size": 16, "progress": False, "mixed_precision": mixed},
    }
    with pytest.raises(ConfigError, match=key):
        train(load_config(Recipe, recipe))


def test_the_accelerate_configs_are_valid_launch_files():
    from pathlib import Path

    import yaml

    folder = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
    ddp, fsdp = (yaml.safe_load((folder / f"{n}.yaml").read_text()) for n in ("ddp", "fsdp"))
    assert ddp["distributed_type"] == "MULTI_GPU" and fsdp["distributed_type"] == "FSDP"
    assert fsdp["fsdp_config"]["fsdp_version"] == 2  # the loop refuses FSDP1
