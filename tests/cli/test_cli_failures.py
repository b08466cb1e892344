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


def test_a_generator_without_its_ids_names_the_command_that_builds_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "tiger.yaml"
    recipe.write_text(
        "model: tiger\nrun_dir: runs/tiger\nids: runs/ids/office-x\n"
        "data: {format: embedded, path: office, kcore: 5}\n"
    )
    message = fails(["train", str(recipe)], ConfigError)
    assert "runs/ids/office-x does not exist" in message
    assert "`genrec ids build office data.kcore=5 out=runs/ids/office-x`" in message
    assert not (tmp_path / "runs").exists()  # a run that never started leaves nothing


def test_rl_before_its_start_run_names_the_recipe_that_trains_it(tmp_path, monkeypatch):
    from pathlib import Path

    repo = Path(__file__).parents[2]
    monkeypatch.chdir(repo)  # configs/ is where the recipes are
    out = tmp_path / "srpo"
    message = fails(["train", "configs/srpo-beauty.yaml", f"run_dir={out}"], ConfigError)
    assert "runs/decoder-only-distill-wide-beauty is not a run directory" in message
    assert "`genrec train configs/decoder-only-distill-wide-beauty.yaml`" in message
    assert "office" not in message
    assert not out.exists()

    args = ["train", "configs/srpo-beauty.yaml", f"run_dir={out}", f"init_from={tmp_path / 'x'}"]
    message = fails(args)
    assert f"run_dir={tmp_path / 'x'}" in message


def test_an_offline_download_leaves_no_empty_dataset_folder(tmp_path):
    import socket

    from genrec.data.download import DownloadError

    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cache = tmp_path / "cache"
    args = ["data", "download", "amazon2014-beauty", "--cache-dir", str(cache)]
    message = fails([*args, "--base-url", f"http://127.0.0.1:{port}"], DownloadError)
    assert "unreachable" in message
    assert not (cache / "amazon2014-beauty").exists()


def test_serve_on_a_port_in_use_is_one_line_before_the_model_loads(tmp_path):
    import socket
    import subprocess
    import sys

    pytest.importorskip("uvicorn")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # the run does not exist: loading it first would fail with another message
        args = ["serve", str(tmp_path / "no-run"), "--port", str(port)]
        message = fails(args, ConfigError)
        assert f"cannot listen on 127.0.0.1:{port}" in message and "--port" in message
        proc = subprocess.run(
            [sys.executable, "-m", "genrec.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: genrec serve: cannot listen")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_gz_that_is_not_gzip_is_named_so_without_python_internals(tmp_path):
    from genrec.errors import DataError

    raw = tmp_path / "raw"
    raw.mkdir()
    review = '{"reviewerID": "U1", "asin": "A%d", "unixReviewTime": %d, "overall": 5}\n'
    (raw / "reviews_Beauty_5.json").write_text("".join(review % (i, i) for i in range(3)))
    (raw / "meta_Beauty.json.gz").write_text("-nan\n")  # not gzip, despite its name
    args = ["data", "prepare", "amazon2014", str(raw), "--out", str(tmp_path / "out")]
    message = fails(args, DataError)
    assert "meta_Beauty.json.gz:1:" in message and "not gzip-compressed" in message
    assert "<ast." not in message and " at 0x" not in message


def test_help_keeps_no_docstring_line_breaks_and_gives_option_help_room():
    result = runner.invoke(app, ["--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    lines = [line.strip("│ ") for line in result.output.splitlines()]  # rich panels or not
    [train] = [line for line in lines if line.startswith("train ")]
    # the docstring breaks after "(resumes if killed;": the listing does not
    assert "write its run directory (resumes if" in train
    assert not any(
        line.strip().startswith("a constant-rate run") for line in result.output.split("\n")
    )

    result = runner.invoke(app, ["recommend", "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    [prefer] = [line for line in result.output.splitlines() if "What the user wants" in line]
    assert len(prefer[prefer.index("What") :].strip()) >= 35  # was ~16 characters a line
    docstring = "Print a user's recent items and the run's recommendations, with titles and"
    assert docstring in result.output.replace("\n  ", " ")
