"""`genrec data list`: every dataset name whole, piped or on a narrow terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

from genrec.cli.console import print_whole
from genrec.cli.data import datasets_table
from genrec.cli.main import app
from genrec.data.download import list_datasets


def test_piped_list_keeps_names_and_files_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # rich then assumes 80 columns for a pipe
    result = CliRunner().invoke(app, ["data", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for entry in list_datasets():
        assert any(entry.name in line for line in lines), entry.name
        for file in entry.files:
            assert any(file.filename in line for line in lines), file.filename


@pytest.mark.parametrize("width", [80, 60])
def test_narrow_terminal_keeps_names_whole(width: int) -> None:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    print_whole(console, datasets_table())
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    for entry in list_datasets():
        assert any(entry.name in line for line in lines), entry.name
