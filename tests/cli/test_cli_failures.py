"""Bad input through the real CLI: one clear error that says what to do, and nothing left behind."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.errors import ConfigError, GenrecError

runner = CliRunner()


def fails(args: list[str], error: type[Exception] = GenrecError) -> str:
    """The message of the genrec error that ``genrec ARGS`` ends with (main() prints it)."""
    result = runner.invoke(app, args)
    assert isinstance(result.exception, error), (result.exception, result.output)
    return str(result.exception)


@pytest.mark.parametrize("text", ["", "# a recipe, one day\n", "{}\n"])
def test_an_empty_recipe_file_is_a_config_error(tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text(text)
    message = fails(["train", "r.yaml"], ConfigError)
    assert "r.yaml is empty" in message and "configs/" in message
    assert not (tmp_path / "runs").exists()  # nothing trained
