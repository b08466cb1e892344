"""Typed configs: YAML recipes plus ``key=value`` overrides, into frozen dataclasses.

Each component defines its own frozen dataclass next to its code; a recipe nests them. Unknown
keys and wrong types are errors, and every problem in a recipe is reported at once with its
dotted key, so a user fixes them in one pass.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from genrec.errors import ConfigError

T = TypeVar("T")


def load_config(
    cls: type[T],
    recipe: str | Path | dict[str, Any] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> T:
    """Build ``cls`` from a YAML file (or dict) with ``a.b=value`` overrides applied on top.

    Override values are parsed as YAML scalars (``lr=1e-3`` is a float, ``name=x`` a string).
    """
    if isinstance(recipe, (str, Path)):
        path = Path(recipe)
        if not path.is_file():
            raise ConfigError(f"recipe {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{path}: expected a mapping at the top level, found {type(raw).__name__}"
            )
    else:
        raw = dict(recipe or {})
    errors: list[str] = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            errors.append(f"override {item!r}: expected key=value (e.g. train.lr=1e-3)")
            continue
        _set_dotted(raw, key.strip(), yaml.safe_load(value) if value.strip() else None)
    config = _build(cls, raw, "", errors)
    if errors:
        where = f" in {recipe}" if isinstance(recipe, (str, Path)) else ""
        raise ConfigError(f"{len(errors)} problem(s){where}:\n  - " + "\n  - ".join(errors))
    return config


def to_dict(config: Any) -> dict[str, Any]:
    """Plain-data form of a config (tuples as lists), for YAML / JSON run records."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (loadable again by ``load_config``)."""
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value


def _build(cls: type[T], raw: Any, prefix: str, errors: list[str]) -> T:
    """Recursively build dataclass ``cls`` from ``raw``, appending problems to ``errors``."""
    if not isinstance(raw, dict):
        errors.append(f"{prefix or '<root>'}: expected a mapping, found {raw!r}")
        return None  # type: ignore[return-value]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in raw:
        if key not in fields:
            known = ", ".join(sorted(fields))
            errors.append(f"{prefix}{key}: unknown key (known: {known})")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{prefix}{name}"
        if name in raw:
            kwargs[name] = _coerce(hints[name], raw[name], key, errors)
        elif dataclasses.is_dataclass(hints[name]):
            kwargs[name] = _build(hints[name], {}, f"{key}.", errors)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            errors.append(f"{key}: required, but missing")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # __post_init__ validation
        errors.append(f"{prefix or '<root>'}: {exc}")
        return None  # type: ignore[return-value]


def _coerce(tp: Any, value: Any, key: str, errors: list[str]) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value if value is not None else {}, f"{key}.", errors)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            trial: list[str] = []
            result = _coerce(arg, value, key, trial)
            if not trial:
                return result
        errors.append(f"{key}: expected {_name(tp)}, found {value!r}")
        return None
    if origin is typing.Literal:
        if isinstance(value, bool) and value not in args:
            # YAML 1.1 reads a bare no / yes / off / on as a boolean: take the option it spells.
            spelled = [a for a in args if isinstance(a, str) and yaml.safe_load(a) is value]
            value = spelled[0] if len(spelled) == 1 else value
        if value not in args:
            errors.append(f"{key}: expected one of {list(args)}, found {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            errors.append(f"{key}: expected a list, found {value!r}")
            return ()
        return tuple(_coerce(args[0], v, f"{key}[{i}]", errors) for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            errors.append(f"{key}: expected a mapping, found {value!r}")
            return {}
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML reads "1e-3" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    errors.append(f"{key}: expected {_name(tp)}, found {value!r}")
    return value


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
