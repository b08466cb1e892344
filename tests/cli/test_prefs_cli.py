"""`genrec prefs generate` / `inspect` end to end on the embedded Office dataset."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from genrec.cli.main import app
from genrec.errors import ConfigError
from genrec.prefs.store import load_statements, read_manifest
from genrec.sid.semantic_ids import SemanticIds
from genrec.text.template import ItemTemplate

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


def test_generate_for_the_test_steps_of_a_user_sample(tmp_path):
    make_rated_dataset().save(tmp_path / "rated")
    out = tmp_path / "prefs"
    args = ["prefs", "generate", str(tmp_path / "rated"), f"out={out}", "progress=false"]
    result = runner.invoke(app, [*args, "steps=test", "users=2", "seed=1"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest["steps"] == "test, 2 users (seed 1)"
    table = load_statements(out).table
    assert table["user"].n_unique() == 2 and table.select("user", "step").n_unique() == 2
    result = runner.invoke(app, [*args, "steps=test", "users=3", "seed=1"])
    assert result.exit_code != 0 and "--overwrite" in str(result.exception)


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
    assert not (tmp_path / "x").exists()  # failed before any statement: nothing left


def test_bad_generator_settings_are_reported_together_and_typed(tmp_path):
    args = ["prefs", "generate", "office", f"out={tmp_path / 'p'}"]
    result = runner.invoke(app, [*args, "attributes.window=0", "attributes.max_df=2"])
    assert isinstance(result.exception, ConfigError)  # `genrec` prints it as one red line
    message = " ".join(str(result.exception).split())
    assert "2 problem(s)" in message
    assert "attributes.window: expected an integer >= 1, got 0" in message
    assert "attributes.max_df: expected a number in (0, 1], got 2" in message
    result = runner.invoke(app, [*args, "attributes.like_rating=2", "chunk_users=0"])
    message = " ".join(str(result.exception).split())
    assert "chunk_users: expected an integer >= 1 or null, got 0" in message
    assert "attributes: dislike_rating (2.0) must be below like_rating (2.0)" in message
    assert not (tmp_path / "p").exists()


def test_threshold_is_chosen_on_validation_and_recorded(tmp_path, monkeypatch):
    from genrec.prefs.threshold import read_calibration

    from ..prefs.conftest import make_rated_dataset

    monkeypatch.setenv("GENREC_CACHE", str(tmp_path / "cache"))
    make_rated_dataset().save(tmp_path / "rated")
    folder = str(tmp_path / "rated")
    result = runner.invoke(app, ["prefs", "generate", folder, "progress=false"])
    assert result.exit_code == 0, result.output
    chosen = []
    for out in ("a.json", "b.json"):
        args = ["prefs", "threshold", folder, "max_false_exclusion=0.5", f"out={tmp_path / out}"]
        result = runner.invoke(app, [*args, "progress=false"])
        assert result.exit_code == 0, result.output
        assert "validation pairs" in result.output
        config, record = read_calibration(tmp_path / out)
        assert record["statements"] == f"{folder}/prefs/attributes"
        assert record["choice"]["pairs"] > 0 and record["choice"]["false_exclusion"] <= 0.5
        chosen.append(config)
    assert chosen[0] == chosen[1] and -1 <= chosen[0].threshold <= 1  # deterministic
    assert "matching item text fields title, brand, categories, price" in result.output
    # ids=: the item text the run's semantic IDs were built from, not the default template.
    template = ItemTemplate(fields=("title", "description"))
    n = make_rated_dataset().n_items
    ids = SemanticIds(np.arange(n)[:, None], (n,), None, {"template": template.to_dict()})
    ids.save(tmp_path / "ids")
    args = ["prefs", "threshold", folder, "max_false_exclusion=0.5", f"ids={tmp_path / 'ids'}"]
    result = runner.invoke(app, [*args, f"out={tmp_path / 'c.json'}", "progress=false"])
    assert result.exit_code == 0, result.output
    assert "matching item text fields title, description" in result.output
    assert read_calibration(tmp_path / "c.json")[0].template == template
    result = runner.invoke(app, [*args, "match.template.fields=[title]", "progress=false"])
    assert isinstance(result.exception, ConfigError) and "give only one" in str(result.exception)
    result = runner.invoke(app, ["prefs", "threshold", folder, "max_false_exclusion=0"])
    assert isinstance(result.exception, ConfigError)
    assert "max_false_exclusion: expected a number in (0, 1), got 0" in str(result.exception)
