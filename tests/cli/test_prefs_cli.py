"""`genrec prefs generate` / `inspect` end to end on the embedded Office dataset."""

from __future__ import annotations

from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.prefs.store import load_statements, read_manifest

from ..prefs.chat_server import GOOD, ChatServer
from ..prefs.conftest import make_rated_dataset

runner = CliRunner()


def test_generate_then_inspect(tmp_path):
    out = tmp_path / "prefs"
    args = ["prefs", "generate", "office", f"out={out}", "progress=false"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest["complete"] and manifest["counts"]["steps"] == 2 * 4905
    assert len(load_statements(out)) == manifest["counts"]["statements"] > 4905

    result = runner.invoke(app, [*args, "attributes.include_brand=true"])
    assert result.exit_code != 0 and "--overwrite" in str(result.exception)

    result = runner.invoke(app, ["prefs", "inspect", str(out), "--examples", "2"])
    assert result.exit_code == 0, result.output
    assert "positive" in result.output and "mean characters" in result.output
    assert (out / "lengths.png").stat().st_size > 0


def test_generate_with_an_openai_endpoint_and_a_failing_one(tmp_path):
    folder = make_rated_dataset().save(tmp_path / "rated")
    out = tmp_path / "prefs"
    with ChatServer(lambda n, body: (200, GOOD)) as server:
        args = ["prefs", "generate", str(folder), "generator=openai", f"openai.url={server.url}",
                "openai.model=tiny", f"out={out}", "progress=false"]  # fmt: skip
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "14 statements for 7 steps" in result.output
    assert read_manifest(out)["generator"]["name"] == "openai"

    with ChatServer(lambda n, body: (503, b"down")) as server:
        args = ["prefs", "generate", str(folder), "generator=openai", f"openai.url={server.url}",
                "openai.model=tiny", "openai.retries=1", "openai.backoff=0",
                f"out={tmp_path / 'x'}", "progress=false"]  # fmt: skip
        result = runner.invoke(app, args)
    assert "no answer after 2 tries (last: HTTP 503)" in str(result.exception)
