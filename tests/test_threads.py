"""The thread setting: where it comes from, what a bad value says, and what it changes."""

from __future__ import annotations

import pytest
import torch
from threadpoolctl import threadpool_info

from genrec import threads
from genrec.config import load_config
from genrec.errors import ConfigError
from genrec.recipes.build_ids import IdsConfig
from genrec.recipes.recipe import Recipe
from genrec.threads import ENV, check_threads, resolve_threads, use_threads

pytestmark = pytest.mark.usefixtures("keep_threads")


@pytest.fixture(autouse=True)
def no_thread_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_variable_beats_recipe_beats_omp_beats_default(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 16)
    assert resolve_threads() == 4  # half the cores, at most 4
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_threads() == 3
    assert resolve_threads(recipe=5) == 5
    monkeypatch.setenv(ENV, "2")
    assert resolve_threads(recipe=5) == 2


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (3, 1), (6, 3), (64, 4)])
def test_default_is_half_the_cores_at_most_four(monkeypatch, cores, expected):
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    assert resolve_threads() == expected


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5"])
def test_bad_variable_names_it(monkeypatch, value):
    monkeypatch.setenv(ENV, value)
    with pytest.raises(ConfigError, match=f"{ENV}='{value}'.*threads >= 1"):
        resolve_threads(recipe=2)


def test_bad_option_value_names_the_option():
    with pytest.raises(ConfigError, match="--threads=0"):
        check_threads(0, "--threads")


def test_recipe_fields_are_checked():
    with pytest.raises(
        ConfigError, match=r"train.threads: expected an integer >= 1 or null, got 0"
    ):
        load_config(Recipe, {}, ["train.threads=0"])
    with pytest.raises(ConfigError, match=r"threads: expected an integer >= 1 or null, got -1"):
        load_config(IdsConfig, {}, ["threads=-1"])
    assert load_config(Recipe, {}, ["train.threads=3"]).train.threads == 3


def test_use_threads_limits_torch_and_blas():
    assert use_threads(recipe=2) == 2 and torch.get_num_threads() == 2
    assert use_threads(recipe=1) == 1 and torch.get_num_threads() == 1
    assert {pool["num_threads"] for pool in threadpool_info()} == {1}


def test_prefs_generate_applies_its_threads_field(tmp_path, monkeypatch):
    from genrec.prefs.generate import PrefsConfig, generate

    applied: list[int] = []
    monkeypatch.setattr(threads, "apply_threads", applied.append)
    config = load_config(
        PrefsConfig, {"out": str(tmp_path / "p"), "progress": False}, ["threads=3"]
    )
    generate(config)
    assert applied == [3]
