import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from genrec.config import Range, differences, load_config, save_config
from genrec.errors import ConfigError
from genrec.recipes.build_ids import IdsConfig
from genrec.recipes.recipe import Recipe

SASREC_OFFICE = Path(__file__).resolve().parents[1] / "configs" / "sasrec-office.yaml"


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
        "inner.lr: expected a number, got 'fast'",
        "inner.mode: expected one of",
        "steps: expected an integer or null, got 'many'",
        "'bad': expected key=value",
    ):
        assert fragment in msg


def test_post_init_validation_is_reported_with_other_sections_problems():
    with pytest.raises(ConfigError) as err:
        load_config(Recipe, {}, ["sasrec.hidden=30", "sasrec.heads=4", "train.lr=0"])
    msg = str(err.value)
    assert "2 problem(s)" in msg
    assert "sasrec: hidden (30) must be divisible by heads (4)" in msg
    assert "train.lr: expected a number > 0, got 0" in msg
    for model in ("bert4rec", "hstu"):
        with pytest.raises(ConfigError, match=f"{model}: hidden \\(30\\) must be divisible by"):
            load_config(Recipe, {}, [f"{model}.hidden=30", f"{model}.heads=4"])


def test_issue_12_invalid_values_are_reported_together_and_typed():
    overrides = [
        "train.lr=-1",
        "train.epochs=ten",
        "sasrec.dropout=2",
        "data.kcore=-3",
        "data.max_history=0",
    ]
    with pytest.raises(ConfigError) as err:
        load_config(Recipe, SASREC_OFFICE, overrides)
    msg = str(err.value)
    assert msg.startswith(f"5 problem(s) in {SASREC_OFFICE}")
    for line in (
        "train.lr: expected a number > 0, got -1",
        "train.epochs: expected an integer, got 'ten'",  # a type error is not range-checked
        "sasrec.dropout: expected a number in [0, 1), got 2",
        "data.kcore: expected an integer >= 0, got -3",
        "data.max_history: expected an integer >= 1, got 0",
    ):
        assert f"  - {line}\n" in msg + "\n"
    with pytest.raises(ConfigError) as err:
        load_config(Recipe, SASREC_OFFICE, ["train.lr=-1", "train.epochs=0"])
    assert "train.lr: expected" in str(err.value) and "train.epochs: expected" in str(err.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=true", "train.epochs: expected an integer, got True"),
        ("train.epochs=2.5", "train.epochs: expected an integer, got 2.5"),
        ("train.lr=.nan", "train.lr: expected a number, got nan"),
        ("train.cpu=3", "train.cpu: expected true or false, got 3"),
        ("eval.ks=[0, 10]", "eval.ks: expected a list of integers >= 1, got [0, 10]"),
        ("eval.ks=[ten]", "eval.ks: expected a list of integers, got ['ten']"),
        ("eval.ks=[5]", "eval: ks [5] must include 10: training selects by NDCG@10"),
        ("eval.valid_users=0", "eval.valid_users: expected an integer >= 1 or null, got 0"),
        ("distill.weight=1.5", "distill.weight: expected a number in [0, 1], got 1.5"),
        ("train.seed=-1", "train.seed: expected an integer in [0, 4294967295], got -1"),
        ("data.options=3", "data.options: expected a mapping, got 3"),
        ("sasrec=3", "sasrec: expected a mapping, found 3"),
        ("bert4rec.mask_prob=0", "bert4rec.mask_prob: expected a number in (0, 1], got 0"),
        ("bert4rec.loss=bce", "bert4rec.loss: expected one of"),
        ("hstu.position_buckets=1", "hstu.position_buckets: expected an integer >= 2, got 1"),
        ("hstu.dropout=1", "hstu.dropout: expected a number in [0, 1), got 1"),
    ],
)
def test_each_value_is_named_and_typed_in_plain_words(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(Recipe, {}, [override])
    assert f"  - {message}" in str(err.value)


def _fields(cls: type, prefix: str = "") -> list[tuple[type, str, dataclasses.Field, Any]]:
    """(owner class, dotted key, field, type) of every leaf field under ``cls``."""
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            found += _fields(hints[f.name], f"{prefix}{f.name}.")
        else:
            found.append((cls, f"{prefix}{f.name}", f, hints[f.name]))
    return found


def _numeric(tp: Any) -> bool:
    args = typing.get_args(tp)
    return tp in (int, float) or any(_numeric(a) for a in args if a is not type(None))


def _outside(bounds: Range) -> list[float]:
    """Values just outside ``bounds`` (integers, so they fit int and float fields alike)."""
    return [
        value
        for value in (
            None if bounds.ge is None else bounds.ge - 1,
            bounds.gt,
            None if bounds.le is None else bounds.le + 1,
            bounds.lt,
        )
        if value is not None
    ]


NUMERIC = [
    (root, owner, key, f, tp)
    for root in (Recipe, IdsConfig)
    for owner, key, f, tp in _fields(root)
    if _numeric(tp)
]


@pytest.mark.parametrize(
    ("root", "owner", "key", "f", "tp"),
    NUMERIC,
    ids=[f"{r.__name__}:{k}" for r, _, k, _, _ in NUMERIC],
)
def test_every_numeric_field_rejects_values_out_of_its_range(root, owner, key, f, tp):
    bounds = next((v for v in f.metadata.values() if isinstance(v, Range)), None)
    assert bounds is not None, f"{key} declares no range: use bounded(default, ge=..., ...)"
    list_field = typing.get_origin(tp) is tuple
    for bad in _outside(bounds):
        value = [bad] if list_field else bad
        with pytest.raises(ConfigError) as err:
            load_config(root, {}, [f"{key}={value}"])
        assert f"  - {key}: expected " in str(err.value) and f" {bounds}" in str(err.value)
        # The same declaration guards a config built in Python.
        with pytest.raises(ValueError, match=rf"{owner.__name__}.{f.name}: expected .*got"):
            owner(**{f.name: tuple(value) if list_field else bad})
    with pytest.raises(ConfigError, match=rf"{key}: expected [^,]*, got 'x'"):
        load_config(root, {}, [f"{key}=x"])


def test_round_trip_through_yaml(tmp_path):
    cfg = load_config(Recipe, {}, ["train.epochs=3", "eval.ks=[5,10]", "data.options={prefix: P}"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(Recipe, tmp_path / "c.yaml") == cfg


def test_some_keys_alone_are_written_and_the_rest_load_with_defaults(tmp_path):
    cfg = Outer(steps=3, inner=Inner(lr=0.01))
    save_config(cfg, tmp_path / "c.yaml", ("steps",))
    assert (tmp_path / "c.yaml").read_text() == "steps: 3\n"
    assert load_config(Outer, tmp_path / "c.yaml") == Outer(steps=3)
    with pytest.raises(ValueError, match="no \\['step'\\]"):
        save_config(cfg, tmp_path / "c.yaml", ("step",))


def test_differences_name_dotted_keys_with_both_values():
    old, new = Outer(), Outer(steps=3, inner=Inner(lr=0.01, ks=(5,), mode="b"))
    assert [str(d) for d in differences(old, new)] == [
        "steps: null -> 3",
        "inner.lr: 0.001 -> 0.01",
        "inner.ks: [5, 10] -> [5]",
        "inner.mode: a -> b",
    ]
    assert [d.key for d in differences(old, new, {"name", "inner"})] == [
        "inner.lr",
        "inner.ks",
        "inner.mode",
    ]
    assert differences(new, new) == []


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
