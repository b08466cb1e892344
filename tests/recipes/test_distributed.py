"""Several processes through `accelerate launch`: FSDP2 (configs/accelerate/fsdp.yaml) shards a
tiny Llama backbone over 2 CPU processes (gloo), resumes a run one process started, validates,
saves and evaluates, and ends where one process ends with the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import genrec
from genrec.config import load_config, save_config
from genrec.recipes.evaluate import load_run
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train

from ..conftest import REPO, tiny_text_ids
from .test_llm_recipe import titled_cycle_dataset

pytestmark = [pytest.mark.distributed, pytest.mark.usefixtures("one_thread")]

FSDP = REPO / "configs" / "accelerate" / "fsdp.yaml"
WORKER = Path(__file__).with_name("cpu_fsdp.py")


def recipe(root: Path, lm: Path, run: str, epochs: int, batch_size: int) -> Recipe:
    """Only tasks whose answer is an ID (all as long): each process's mean loss then weighs
    its tokens as one process's mean over the whole batch does."""
    only_ids = {k: 0 for k in ("id_to_title", "next_title", "titles_to_id", "restate")}
    return load_config(
        Recipe,
        {
            "model": "llm",
            "run_dir": str(root / run),
            "ids": str(root / "ids"),
            "data": {"format": "genrec", "path": str(root / "data"), "max_history": 8},
            "llm": {"source": str(lm), "max_history": 4, "init": "titles"},
            "alignment": {"examples": 48, "mix": {"text_to_id": 1.0, **only_ids}},
            "decode": {"beams": 10},
            "eval": {"valid_users": 8, "batch_size": 16},
            "train": {
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": 0.001,
                "steps_per_epoch": 3,
                "progress": False,  # no train.cpu: the loop finds no GPU and joins the processes
            },
        },
    )


def launch(config: Path, recipe_file: Path) -> subprocess.CompletedProcess[str]:
    """`accelerate launch --config_file config` of `genrec train recipe_file` on 2 CPU
    processes (``cpu_fsdp.py``: FSDP on CPU, which accelerate itself turns on only on GPUs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = str(Path(genrec.__file__).parents[1])  # this checkout's genrec in the children too
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    command = [Path(sys.executable).with_name("accelerate"), "launch", "--config_file", config]
    command += ["--num_processes", "2", "--main_process_port", str(port)]
    command += [WORKER, "train", recipe_file]
    return subprocess.run(
        [str(c) for c in command], env=env, capture_output=True, text=True, timeout=300
    )


def test_fsdp_on_two_processes_resumes_a_run_and_matches_one_process(tmp_path, tiny_causal_lm):
    titled_cycle_dataset().save(tmp_path / "data")
    tiny_text_ids({"format": "genrec", "path": str(tmp_path / "data")}, tmp_path / "ids")
    reference = train(recipe(tmp_path, tiny_causal_lm, "reference", epochs=2, batch_size=8))
    # One process trains the first epoch; two go on under FSDP, 4 examples each per step.
    started = train(recipe(tmp_path, tiny_causal_lm, "sharded", epochs=1, batch_size=8))
    sharded = recipe(tmp_path, tiny_causal_lm, "sharded", epochs=2, batch_size=4)
    save_config(sharded, started.config)  # the same run, now asked for a second epoch
    done = launch(FSDP, started.config)

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming {started.path} after epoch 1" in done.stdout
    epochs = started.epochs()
    assert [e["epoch"] for e in epochs] == [1, 2]  # process 0 alone writes the log
    assert json.loads(started.manifest.read_text())["status"] == "finished"
    for part in ("model", "state"):  # the full weights and optimizer moments
        ours = load_file(started.last / f"{part}.safetensors")
        theirs = load_file(reference.last / f"{part}.safetensors")
        assert ours.keys() == theirs.keys()
        for key, value in theirs.items():
            torch.testing.assert_close(ours[key], value, rtol=1e-4, atol=1e-5, msg=key)

    _, _, split, recommender = load_run(started.path)  # one process reads it back
    items, _ = recommender.recommend(torch.as_tensor(split.test.histories[:4]), k=5)
    assert items.shape == (4, 5) and (items >= 0).all()
