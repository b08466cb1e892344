"""Reader options: unknown names and wrong types list the reader's own options."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from genrec.data.sources import READERS, read_dataset
from genrec.errors import ConfigError


@pytest.mark.parametrize("fmt", list(READERS))
def test_unknown_option_lists_the_readers_options(fmt: str, fixtures: Path) -> None:
    # Was a TypeError traceback ("got an unexpected keyword argument 'colmap'").
    with pytest.raises(ConfigError, match=rf"{fmt} reader: unknown option 'colmap'") as err:
        read_dataset(fmt, fixtures / "raw" / fmt, colmap=1)
    params = inspect.signature(READERS[fmt]).parameters.values()
    for param in (p for p in params if p.kind is p.KEYWORD_ONLY):
        assert f"{param.name} (" in str(err.value)


def test_wrong_type_says_what_is_expected(fixtures: Path) -> None:
    # Was `ValueError: dictionary update sequence element #0 has length 1`.
    path = fixtures / "raw" / "tabular" / "interactions.csv"
    with pytest.raises(ConfigError) as err:
        read_dataset("tabular", path, mapping="uid", separator=1, colmap=1)
    message = str(err.value)
    assert "option 'mapping': expected Mapping[str, str] | None, found 'uid' (str)" in message
    assert "option 'separator': expected str, found 1 (int)" in message
    assert "unknown option 'colmap'" in message  # every problem at once
    assert "--option 'mapping={item_id: sku}'" in message


@pytest.mark.parametrize(
    ("fmt", "options", "problem"),
    [
        ("amazon2014", {"with_meta": "no"}, "'with_meta': expected bool"),
        ("amazon2014", {"meta": 3}, "'meta': expected str | Path | None"),
        ("tabular", {"mapping": {"user_id": 1}}, "'mapping': expected Mapping[str, str]"),
        ("movielens", {"encoding": None}, "'encoding': expected str"),
    ],
)
def test_wrongly_typed_values(fixtures: Path, fmt: str, options: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        read_dataset(fmt, fixtures / "raw" / fmt, **options)


def test_valid_options_pass(fixtures: Path) -> None:
    folder = fixtures / "raw" / "tabular"
    ds = read_dataset(
        "tabular",
        folder / "interactions.csv",
        mapping={"user_id": "uid", "item_id": "sku"},
        items=str(folder / "items.csv"),  # a path given as text, as YAML gives it
        item_mapping={"item_id": "sku"},
        name="t",
    )
    assert ds.name == "t" and ds.n_users == 2
    assert read_dataset("amazon2014", fixtures / "raw" / "amazon2014", with_meta=False).n_users
