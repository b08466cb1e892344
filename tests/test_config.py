from dataclasses import dataclass, field
from typing import Literal

import pytest

from genrec.config import load_config, save_config
from genrec.errors import ConfigError
from genrec.recipes.recipe import Recipe


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    ks: tuple[int, ...] = (5, 10)
    mode: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    steps: int | None = None
    inner: Inner = field(default_factory=Inner)


def test_defaults_yaml_and_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: y\ninner:\n  ks: [1, 2]\n")
    cfg = load_config(Outer, recipe, ["inner.lr=3e-4", "steps=7", "inner.mode=b"])
    assert cfg == Outer(name="y", steps=7, inner=Inner(lr=3e-4, ks=(1, 2), mode="b"))


def test_all_errors_reported_together_with_keys():
    with pytest.raises(ConfigError) as err:
        load_config(Outer, {"nme": 1, "inner": {"lr": "fast", "mode": "c"}}, ["steps=many", "bad"])
    msg = str(err.value)
    assert "5 problem(s)" in msg
    for fragment in (
        "nme: unknown key",
        "inner.lr: expected float",
        "inner.mode: expected one of",
        "steps: expected",
        "'bad': expected key=value",
    ):
        assert fragment in msg


def test_post_init_validation_is_reported():
    with pytest.raises(ConfigError, match="train.lr must be > 0"):
        load_config(Recipe, {}, ["train.lr=0"])
    with pytest.raises(ConfigError, match="divisible"):
        load_config(Recipe, {}, ["sasrec.hidden=30", "sasrec.heads=4"])


def test_round_trip_through_yaml(tmp_path):
    cfg = load_config(Recipe, {}, ["train.epochs=3", "eval.ks=[5,10]", "data.options={prefix: P}"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(Recipe, tmp_path / "c.yaml") == cfg


def test_literal_option_that_yaml_reads_as_a_boolean(tmp_path):
    # `mixed_precision=no` is YAML 1.1's False; the option spelled "no" is what was meant.
    cfg = load_config(Recipe, {}, ["train.mixed_precision=no"])
    assert cfg.train.mixed_precision == "no"
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  mixed_precision: no\n")
    assert load_config(Recipe, recipe).train.mixed_precision == "no"
    with pytest.raises(ConfigError, match="lr_schedule: expected one of"):
        load_config(Recipe, {}, ["train.lr_schedule=yes"])


def test_missing_recipe_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Recipe, tmp_path / "nope.yaml")
