"""Reader options, checked against the reader's own signature before the reader runs.

Options reach a reader as YAML values from ``genrec data prepare --option key=value`` and from
a recipe's ``data.options``. A misspelt name or a wrongly typed value would otherwise end in a
``TypeError`` deep inside the reader; here it is reported with the reader's valid options,
read from its signature so that the list never goes stale.
"""

from __future__ import annotations

import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from genrec.errors import ConfigError


def check_options(fmt: str, reader: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Raise a ConfigError naming every unknown or wrongly typed option of ``reader``."""
    params = {
        name: param
        for name, param in inspect.signature(reader).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }
    hints = typing.get_type_hints(reader)
    problems, hint = [], ""
    for key, value in options.items():
        if key not in params:
            problems.append(f"unknown option {key!r}")
        elif not _accepts(hints[key], value):
            problems.append(
                f"option {key!r}: expected {params[key].annotation}, found {value!r} "
                f"({type(value).__name__})"
            )
            if "Mapping" in str(params[key].annotation):
                hint = f" Write a mapping as YAML, e.g. --option '{key}={{item_id: sku}}'."
    if problems:
        valid = ", ".join(f"{n} ({p.annotation}, default {p.default!r})" for n, p in params.items())
        raise ConfigError(f"{fmt} reader: {'; '.join(problems)}. Its options are: {valid}.{hint}")


def _accepts(tp: Any, value: Any) -> bool:
    """Whether ``value`` fits the annotation ``tp`` (the shapes reader signatures use)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in args)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if origin in (Mapping, dict):
        key_type, value_type = args or (Any, Any)
        return isinstance(value, Mapping) and all(
            _accepts(key_type, k) and _accepts(value_type, v) for k, v in value.items()
        )
    if tp is os.PathLike or (isinstance(tp, type) and issubclass(tp, os.PathLike)):
        return isinstance(value, str | os.PathLike)  # a path given as text is a path
    if isinstance(value, bool) and tp is not bool:
        return False  # YAML's yes/no are not numbers
    if tp is float:
        return isinstance(value, int | float)
    return isinstance(tp, type) and isinstance(value, tp)
