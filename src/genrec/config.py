"""Typed configs: YAML recipes plus ``key=value`` overrides, into frozen dataclasses.

Each component defines its own config next to its code with ``@configclass`` (a frozen
dataclass); a recipe nests them. A numeric field declares its range next to its default
(``dropout: float = bounded(0.1, ge=0, lt=1)``), and that one declaration serves both paths:
``load_config`` checks every field of every section and reports all problems at once with
their dotted keys and the expected type in plain words, and a config built in Python checks
its own fields on construction. ``__post_init__`` holds only rules across fields; it runs once
every field has the right type and range.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import sys
import types
import typing
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar, Union

import yaml

from genrec.atomic import atomic_file
from genrec.errors import ConfigError

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # a dependency of torch, so always installed
    from typing_extensions import dataclass_transform

T = TypeVar("T")
_RANGE = "genrec.range"  # the field-metadata key of a declared Range


@dataclasses.dataclass(frozen=True)
class Range:
    """The interval a numeric field (each element, for a list field) must lie in."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def __contains__(self, value: float) -> bool:
        # Written so that NaN, which compares False with everything, is never inside.
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def __str__(self) -> str:
        low = self.ge if self.ge is not None else self.gt
        high = self.le if self.le is not None else self.lt
        if low is not None and high is not None:
            opening = "[" if self.ge is not None else "("
            closing = "]" if self.le is not None else ")"
            return f"in {opening}{low}, {high}{closing}"
        if low is not None:
            return f"{'>=' if self.ge is not None else '>'} {low}"
        return f"{'<=' if self.le is not None else '<'} {high}"


def bounded(
    default: T,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> T:
    """A config field with ``default`` whose value (or each element of it) must lie in the range.

    ``ge`` / ``gt``: at least / above; ``le`` / ``lt``: at most / below. None stays allowed
    where the field's type allows it.
    """
    if (ge, gt, le, lt) == (None,) * 4 or None not in (ge, gt) or None not in (le, lt):
        raise TypeError("bounded: give one lower (ge or gt) and/or one upper (le or lt) bound")
    return dataclasses.field(default=default, metadata={_RANGE: Range(ge, gt, le, lt)})


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, bounded))
def configclass(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True)`` whose instances check each field's type and declared range
    on construction (ConfigError naming ``Class.field``), then run the class's own
    ``__post_init__`` (rules across fields), whose ValueError becomes a ConfigError too."""
    rules = cls.__dict__.get("__post_init__")

    def __post_init__(self: Any) -> None:
        problems = _field_problems(self, f"{cls.__name__}.")
        if problems:
            raise ConfigError("; ".join(problems))
        if rules is not None:
            try:
                rules(self)
            except ValueError as exc:
                raise ConfigError(f"{cls.__name__}: {exc}") from None

    cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
    return dataclasses.dataclass(frozen=True)(cls)


def _field_problems(config: Any, prefix: str = "") -> list[str]:
    """What is wrong with each of ``config``'s own fields (type, then range), keyed by
    ``prefix + name``; nested configs checked themselves when they were built."""
    hints = _hints(type(config))
    problems = []
    for f in dataclasses.fields(config):
        problem = _problem(hints[f.name], f, getattr(config, f.name))
        if problem:
            problems.append(f"{prefix}{f.name}: {problem}")
    return problems


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
    return _plain(dataclasses.asdict(config))


def _plain(value: Any) -> Any:
    """``value`` as plain data: sections as dicts, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def save_config(config: Any, path: str | Path, keys: Collection[str] | None = None) -> None:
    """Write the resolved config as YAML (loadable again by ``load_config``), atomically: a
    run's config.yaml is rewritten when the run is opened again. ``keys``: only these
    top-level fields (in field order); the others load again with their defaults."""
    data = to_dict(config)
    if keys is not None:
        unknown = set(keys) - data.keys()
        if unknown:
            raise ValueError(f"save_config: {type(config).__name__} has no {sorted(unknown)}")
        data = {k: v for k, v in data.items() if k in keys}
    with atomic_file(path) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))


class Difference(NamedTuple):
    """One field whose value differs between two configs: its dotted ``key`` (``sasrec.hidden``)
    and both values."""

    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key}: {_inline(self.old)} -> {_inline(self.new)}"


def differences(old: Any, new: Any, keys: Collection[str] | None = None) -> list[Difference]:
    """Every field where configs ``old`` and ``new`` (of one class) differ, nested sections
    walked, in field order; ``keys``: only these top-level fields. A list of sections (e.g.
    curriculum stages) is one value."""
    found = []
    for f in dataclasses.fields(old):
        ours, theirs = getattr(old, f.name), getattr(new, f.name)
        if (keys is not None and f.name not in keys) or ours == theirs:
            continue
        if dataclasses.is_dataclass(ours) and type(ours) is type(theirs):
            found += [
                Difference(f"{f.name}.{d.key}", d.old, d.new) for d in differences(ours, theirs)
            ]
        else:
            found.append(Difference(f.name, ours, theirs))
    return found


def _inline(value: Any) -> str:
    """``value`` as one line of YAML, as an override would write it: ``64``, ``null``,
    ``[1, 5, 10]``."""
    text = yaml.safe_dump(_plain(value), default_flow_style=True, width=math.inf)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def registered(registry: Mapping[str, T], name: str, key: str) -> T:
    """``registry[name]``: the entry a config value names in a registry (rewards, selection
    protocols, preference generators). An unknown name is a ``ConfigError`` that names the
    ``key`` and lists every registered name."""
    if name not in registry:
        raise ConfigError(f"{key}: unknown name {name!r}; expected one of {', '.join(registry)}")
    return registry[name]


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value


def _build(cls: type[T], raw: Any, prefix: str, errors: list[str]) -> T:
    """Build dataclass ``cls`` from ``raw``, appending every problem of it and of its sections
    to ``errors``. A section with a bad field is not built (None): its rules across fields wait
    until its fields are valid."""
    if not isinstance(raw, dict):
        errors.append(f"{prefix.rstrip('.') or '<root>'}: expected a mapping, found {raw!r}")
        return None  # type: ignore[return-value]
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    found = len(errors)
    for key in raw:
        if key not in fields:
            known = ", ".join(sorted(fields))
            errors.append(f"{prefix}{key}: unknown key (known: {known})")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key, tp = f"{prefix}{name}", hints[name]
        if dataclasses.is_dataclass(tp):
            section = raw.get(name)
            kwargs[name] = _build(tp, {} if section is None else section, f"{key}.", errors)
        elif _section_list(tp) and isinstance(raw.get(name), list):
            # A list of sections (e.g. curriculum stages): each built and checked like one.
            item = typing.get_args(tp)[0]
            kwargs[name] = tuple(
                _build(item, v, f"{key}[{i}].", errors) for i, v in enumerate(raw[name])
            )
        elif name in raw:
            kwargs[name] = _coerce(tp, raw[name])
            problem = _problem(tp, f, kwargs[name], shown=raw[name])
            if problem:
                errors.append(f"{key}: {problem}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            errors.append(f"{key}: required, but missing")
    if len(errors) > found:
        return None  # type: ignore[return-value]
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a rule across fields (configclass adds the class name)
        where = f"{prefix.rstrip('.')}: " if prefix else ""
        errors.append(where + str(exc).removeprefix(f"{cls.__name__}: "))
        return None  # type: ignore[return-value]


def _section_list(tp: Any) -> bool:
    """Whether ``tp`` is ``tuple[SomeConfig, ...]``, a list of sections."""
    args = typing.get_args(tp)
    return typing.get_origin(tp) is tuple and bool(args) and dataclasses.is_dataclass(args[0])


def _coerce(tp: Any, value: Any) -> Any:
    """``value`` as YAML spells it -> the field's type where unambiguous (int -> float, "1e-3"
    -> 1e-3, a list -> a tuple, YAML 1.1's no / yes -> the option "no" / "yes"); anything else
    is returned unchanged for ``_problem`` to report."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        for arg in args:
            coerced = _coerce(arg, value)
            if _is(arg, coerced):
                return coerced
        return value
    if origin is Literal and isinstance(value, bool) and value not in args:
        spelled = [a for a in args if isinstance(a, str) and yaml.safe_load(a) is value]
        return spelled[0] if len(spelled) == 1 else value
    if origin is tuple and isinstance(value, list):
        return tuple(_coerce(args[0], v) for v in value)
    if (origin is dict or tp is dict) and isinstance(value, dict):
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _problem(tp: Any, f: dataclasses.Field[Any], value: Any, shown: Any = None) -> str | None:
    """ "expected <type in words>[ <range>], got <value>" when ``value`` does not fit field ``f``
    of type ``tp``; a value of the wrong type is not range-checked."""
    shown = value if shown is None else shown
    if not _is(tp, value):
        return f"expected {_describe(tp)}, got {shown!r}"
    bounds: Range | None = f.metadata.get(_RANGE)
    if bounds is None or value is None:
        return None
    if all(v in bounds for v in (value if isinstance(value, (tuple, list)) else [value])):
        return None
    return f"expected {_describe(tp, str(bounds))}, got {shown!r}"


def _is(tp: Any, value: Any) -> bool:
    """Whether ``value`` is of type ``tp`` (bools are not numbers; numbers are finite)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(_is(arg, value) for arg in args)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin is tuple:  # a list is accepted too: hand-written code passes lists
        return isinstance(value, (tuple, list)) and all(_is(args[0], v) for v in value)
    if origin is dict or tp is dict:
        return isinstance(value, dict) and (
            not args or all(_is(args[0], k) and _is(args[1], v) for k, v in value.items())
        )
    if isinstance(value, bool):
        return tp is bool
    if tp is int:
        return isinstance(value, numbers.Integral)
    if tp is float:
        return isinstance(value, numbers.Real) and math.isfinite(value)
    return isinstance(value, tp)


#: Plain words for a type, alone and in a list.
_WORDS: dict[Any, tuple[str, str]] = {
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    bool: ("true or false", "booleans"),
    str: ("a string", "strings"),
}


def _describe(tp: Any, bounds: str = "", plural: bool = False) -> str:
    """``tp`` in plain words, with ``bounds`` after the numbers: "an integer >= 1 or null"."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        words = [_describe(a, bounds, plural) for a in args if a is not type(None)]
        return " or ".join(words + ["null"] * (type(None) in args))
    if origin is Literal:
        return f"one of {list(args)}"
    if origin is tuple:
        return f"a list of {_describe(args[0], bounds, plural=True)}"
    if origin is dict or tp is dict:
        return "mappings" if plural else "a mapping"
    if dataclasses.is_dataclass(tp):
        return f"{tp.__name__}s" if plural else f"a {tp.__name__}"
    if tp is Any:
        return "anything"
    words = _WORDS.get(tp, (f"a {getattr(tp, '__name__', tp)}", f"{getattr(tp, '__name__', tp)}s"))
    return f"{words[plural]} {bounds}".strip()


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
