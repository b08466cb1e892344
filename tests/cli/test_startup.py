"""The command starts fast: ``genrec --help`` imports no torch, and a recipe with a typo is
refused before transformers (~2 s to import) is loaded. Checked in a fresh interpreter, by the
modules it imported, not by timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "sentence_transformers", "polars")

PROBE = """
import json, sys
from typer.testing import CliRunner
from genrec.cli.main import app
result = CliRunner().invoke(app, json.loads(sys.argv[1]))
print(json.dumps([result.exit_code, [m for m in json.loads(sys.argv[2]) if m in sys.modules]]))
"""


def imported(args: list[str]) -> tuple[int, list[str]]:
    """(exit code, the modules of ``HEAVY`` imported) of ``genrec ARGS`` in a new interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    code, modules = json.loads(out.strip().splitlines()[-1])
    return code, modules


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["ids", "build", "--help"]])
def test_help_imports_no_heavy_module(args):
    assert imported(args) == (0, [])


def test_a_recipe_typo_is_refused_before_transformers_is_imported():
    code, modules = imported(["train", "configs/sasrec-office.yaml", "train.epochs=ten"])
    assert code != 0
    # The recipe check imports the family table, whose models need torch; transformers, the
    # slowest import, waits for a model that is built.
    assert "transformers" not in modules and "sentence_transformers" not in modules
