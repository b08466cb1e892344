"""`genrec ids build` / `inspect` end to end on a small prepared dataset with the real encoder."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.sid.semantic_ids import SemanticIds

from ..conftest import cycle_dataset

runner = CliRunner()


def test_build_then_inspect(tmp_path, monkeypatch):
    monkeypatch.setenv("GENREC_CACHE", str(tmp_path / "cache"))
    cycle_dataset(n_users=40, n_items=40).save(tmp_path / "data")
    out = tmp_path / "ids"
    args = [
        *("ids", "build", str(tmp_path / "data"), f"out={out}", "progress=false"),
        *("rkmeans.codebook_size=4", "rkmeans.n_levels=2"),
    ]
    with pytest.warns(UserWarning, match="40 of 40 items have none of the template fields"):
        result = runner.invoke(app, args)  # the synthetic items have no text
    assert result.exit_code == 0, result.output
    ids = SemanticIds.load(out)
    assert ids.n_items == 40 and ids.codes.shape[1] == 3  # 2 levels + the dedup level
    assert len({tuple(row) for row in ids.codes.tolist()}) == 40  # collision-free
    diagnostics = json.loads((out / "diagnostics.json").read_text())
    assert diagnostics["final_collision_rate"] == 0.0 and len(diagnostics["usage"]) == 2
    assert (out / "usage.png").stat().st_size > 0
    assert ids.fingerprint in result.output

    # Runs may be trained on these IDs: building over them needs --overwrite.
    build = ["ids", "build", str(tmp_path / "data"), f"out={out}", "progress=false"]
    result = runner.invoke(app, [*build, "rkmeans.codebook_size=5", "rkmeans.n_levels=2"])
    assert "--overwrite" in str(result.exception) and SemanticIds.load(out).codebook_sizes[0] == 4
    result = runner.invoke(
        app, [*build, "rkmeans.codebook_size=5", "rkmeans.n_levels=2", "--overwrite"]
    )
    assert result.exit_code == 0, result.output
    assert SemanticIds.load(out).codebook_sizes[0] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "data", "ids"]  # no leftovers

    (out / "usage.png").unlink()
    result = runner.invoke(app, ["ids", "inspect", str(out)])
    assert result.exit_code == 0, result.output
    assert "perplexity" in result.output and (out / "usage.png").is_file()


def test_raw_folder_needs_a_format(tmp_path):
    result = runner.invoke(app, ["ids", "build", str(tmp_path)])
    assert result.exit_code != 0
    assert "data.format" in str(result.exception)
