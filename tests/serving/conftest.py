"""Tiny trained runs over a small titled catalog, and live servers over apps.

The test modules need genrec[serve] and skip without it (``pytest.importorskip``), so nothing
here imports it at module level."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from genrec.config import load_config
from genrec.data.dataset import Dataset
from genrec.recipes.recipe import Recipe
from genrec.recipes.train import train

from ..conftest import tiny_text_ids

if TYPE_CHECKING:
    import uvicorn

KINDS = ["pen", "stapler", "notebook", "marker", "binder", "envelope"]
COLOURS = ["red", "blue", "green", "black"]
#: i0..i23: "Red pen", "Blue pen", ..., "Black envelope"
TITLES = [f"{colour.title()} {kind}" for kind in KINDS for colour in COLOURS]


def office_dataset() -> Dataset:
    """40 users walking the 24-item catalog in steps of one (the next item is learnable)."""
    users, items = [], []
    for user in range(40):
        length = 3 + user % 6
        users += [f"u{user}"] * length
        items += [f"i{(user + step) % len(TITLES)}" for step in range(length)]
    return Dataset.from_frames(
        "desk",
        pl.DataFrame({"user_id": users, "item_id": items}),
        pl.DataFrame({"item_id": [f"i{i}" for i in range(len(TITLES))], "title": TITLES}),
        source={"reader": "test"},
    )


@pytest.fixture(scope="session", autouse=True)
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Item vectors go to a temporary cache, not the user's."""
    before = os.environ.get("GENREC_CACHE")
    os.environ["GENREC_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("GENREC_CACHE")
    else:
        os.environ["GENREC_CACHE"] = before


@pytest.fixture(scope="session")
def desk_data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("desk")
    office_dataset().save(root / "data")
    return {"format": "genrec", "path": str(root / "data"), "max_history": 4}


@pytest.fixture(scope="session")
def sasrec_run(desk_data: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    recipe = {
        "model": "sasrec",
        "run_dir": str(tmp_path_factory.mktemp("sasrec") / "run"),
        "data": desk_data,
        "sasrec": {"hidden": 8, "layers": 1, "heads": 1, "ff_dim": 16},
        "train": {"epochs": 1, "batch_size": 16, "progress": False, "threads": 1},
    }
    return train(load_config(Recipe, recipe)).path


@pytest.fixture(scope="session")
def decoder_run(desk_data: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A decoder-only generator (text IDs, 4 beams) on the same catalog."""
    root = tmp_path_factory.mktemp("decoder")
    tiny_text_ids(desk_data, root / "ids")
    recipe = {
        "model": "decoder_only",
        "run_dir": str(root / "run"),
        "ids": str(root / "ids"),
        "data": desk_data,
        "decoder_only": {"hidden": 16, "layers": 1, "heads": 2, "ff_dim": 32},
        "decode": {"beams": 4},
        "train": {"epochs": 1, "batch_size": 32, "progress": False, "threads": 1},
    }
    return train(load_config(Recipe, recipe)).path


@pytest.fixture(scope="session")
def steered_run(desk_data: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A decoder-only generator trained with statements (hindsight and the step's own), so a
    request's preferences steer it (about 30 s on one core)."""
    from genrec.prefs.generate import PrefsConfig, generate

    root = tmp_path_factory.mktemp("steered")
    tiny_text_ids(desk_data, root / "ids")
    prefs = {"data": desk_data, "steps": "all", "out": str(root / "prefs"), "progress": False}
    generate(load_config(PrefsConfig, prefs))
    recipe = {
        "model": "decoder_only",
        "run_dir": str(root / "run"),
        "ids": str(root / "ids"),
        "data": desk_data,
        "decoder_only": {"hidden": 32, "layers": 1, "heads": 2, "ff_dim": 64},
        "decode": {"beams": 10},
        "prefs": {"statements": str(root / "prefs"), "hindsight": 1.0, "context": 0.5},
        "train": {"epochs": 40, "batch_size": 16, "lr": 0.003, "patience": 40},
        "eval": {"batch_size": 64},
    }
    recipe["train"].update(progress=False, threads=1)
    return train(load_config(Recipe, recipe)).path


@pytest.fixture(scope="session")
def reasoning_run(
    desk_data: dict, tiny_causal_lm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A tiny LLM trained with reasoning examples, decoding in mode reasoning (4 beams)."""
    root = tmp_path_factory.mktemp("reasoning")
    tiny_text_ids(desk_data, root / "ids")
    recipe = {
        "model": "llm",
        "run_dir": str(root / "run"),
        "ids": str(root / "ids"),
        "data": desk_data,
        "llm": {"source": str(tiny_causal_lm), "max_history": 4, "init": "titles"},
        "alignment": {"examples": 16, "mix": {"reasoning": 0.5}},
        "decode": {"beams": 4, "precision": "float32", "mode": "reasoning", "chain_tokens": 6},
        "eval": {"valid_users": 4, "batch_size": 16},
        "train": {"epochs": 1, "batch_size": 8, "steps_per_epoch": 2, "progress": False},
    }
    return train(load_config(Recipe, recipe)).path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app, timeout: float = 60.0) -> Iterator[tuple[str, uvicorn.Server]]:
    """``app`` on uvicorn in a thread on a free loopback port: (base URL, server). Setting
    ``server.should_exit`` is what SIGTERM does: a graceful shutdown."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(timeout)
