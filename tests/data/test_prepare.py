"""Dataset arguments and embedded datasets: one resolution shared by every command."""

from __future__ import annotations

import pytest

from genrec.data.prepare import DataConfig, load_embedded, resolve_dataset
from genrec.errors import ConfigError, DataError

from ..conftest import cycle_dataset


def test_an_embedded_name_a_prepared_folder_and_a_raw_folder_resolve(tmp_path):
    assert resolve_dataset("office") == DataConfig(format="embedded", path="office")
    cycle_dataset(n_users=10).save(tmp_path / "prepared")
    assert resolve_dataset(str(tmp_path / "prepared")) == DataConfig(
        format="genrec", path=str(tmp_path / "prepared")
    )
    (tmp_path / "raw").mkdir()
    assert resolve_dataset(str(tmp_path / "raw"), "p5") == DataConfig(
        format="p5", path=str(tmp_path / "raw")
    )


def test_a_raw_folder_without_a_format_and_an_unknown_name_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="raw folder.*genrec data prepare.*data.format"):
        resolve_dataset(str(tmp_path))
    with pytest.raises(ConfigError, match=r"offce: no such dataset.*\['office'\]"):
        resolve_dataset("offce")


def test_the_embedded_dataset_loads_by_name():
    dataset = load_embedded("office")
    assert (dataset.name, dataset.n_users, dataset.n_items) == ("office", 4905, 2420)
    with pytest.raises(DataError, match="no embedded dataset 'beauty'"):
        load_embedded("beauty")
