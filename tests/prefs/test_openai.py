"""The openai generator against a chat-completions server started here on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from genrec.errors import ConfigError, DataError
from genrec.prefs.openai import OpenAIConfig, OpenAIGenerator
from genrec.prefs.steps import all_steps, leave_one_out_steps
from genrec.prefs.store import read_manifest, write_statements

from .chat_server import GOOD, ChatServer


def _generator(server: ChatServer, **kwargs) -> OpenAIGenerator:
    settings = {"backoff": 0.01, "timeout": 5.0, "retries": 2} | kwargs
    return OpenAIGenerator(OpenAIConfig(url=server.url, model="tiny", **settings))


def test_answers_become_statements_with_bounded_concurrency(serve, rated_dataset, monkeypatch):
    monkeypatch.setenv("GENREC_TEST_KEY", "sk-secret")
    server = serve(lambda n, body: (200, GOOD, 0.05))
    generator = _generator(server, concurrency=3, api_key_env="GENREC_TEST_KEY")
    steps = all_steps(rated_dataset)
    statements = generator.generate(rated_dataset, steps)
    assert server.requests == len(steps) and server.most_in_flight == 3
    assert len(statements) == 2 * len(steps) and not statements.skipped
    assert set(statements.table["polarity"]) == {"positive", "negative"}
    body = server.bodies[0]
    assert body["model"] == "tiny" and body["messages"][0]["role"] == "system"
    assert server.headers[0]["Authorization"] == "Bearer sk-secret"
    assert "sk-secret" not in json.dumps(generator.identity())


def test_garbage_and_rejected_requests_are_counted(serve, rated_dataset):
    answers = [
        (200, GOOD),
        (200, "no idea, sorry"),
        (200, b"<html>oops</html>"),
        (200, b'{"choices": []}'),
        (400, b'{"error": "prompt too long"}'),
    ]
    server = serve(lambda n, body: answers[n % 5])
    steps = leave_one_out_steps(rated_dataset)
    statements = _generator(server, concurrency=1).generate(rated_dataset, steps)
    assert server.requests == len(steps) == 7
    assert statements.skipped == {
        "bad_response": 2,
        "request_rejected": 1,
        "unparseable_reply": 2,
    }
    assert len(statements) == 2 * 2  # the two good answers


def test_a_500_then_a_429_are_retried(serve, rated_dataset):
    failures = [(500, b"busy"), (429, b"slow down")]
    server = serve(lambda n, body: failures[n] if n < 2 else (200, GOOD))
    steps = leave_one_out_steps(rated_dataset)
    statements = _generator(server, concurrency=1).generate(rated_dataset, steps)
    assert server.requests == len(steps) + 2 and not statements.skipped


def test_timeouts_end_in_a_clear_error_and_keep_the_written_chunks(serve, rated_dataset, tmp_path):
    slow_after = 2  # the first two requests are answered, then the server hangs
    server = serve(lambda n, body: (200, GOOD, 0.01 if n < slow_after else 1.0))
    generator = _generator(server, concurrency=1, timeout=0.2, retries=1)
    steps = leave_one_out_steps(rated_dataset)  # 4 users, 7 steps; the first user has 2
    with pytest.raises(DataError, match=r"no answer after 2 tries \(last: timed out"):
        write_statements(tmp_path / "p", rated_dataset, generator, steps,
                         steps_name="leave_one_out", chunk_users=1, progress=False)  # fmt: skip
    chunks = sorted(p.name for p in (tmp_path / "p" / "chunks").iterdir())
    assert chunks == ["00000.parquet"]  # the first user's chunk; no half-written file
    assert not read_manifest(tmp_path / "p")["complete"]


def test_a_timeout_once_is_retried(serve, rated_dataset):
    server = serve(lambda n, body: (200, GOOD, 1.0 if n == 0 else 0.01))
    steps = leave_one_out_steps(rated_dataset)
    statements = _generator(server, concurrency=1, timeout=0.3).generate(rated_dataset, steps)
    assert not statements.skipped and len(statements) == 2 * len(steps)


def test_wrong_key_stops_at_once(serve, rated_dataset):
    server = serve(lambda n, body: (401, b'{"error": "invalid api key"}'))
    steps = leave_one_out_steps(rated_dataset)
    with pytest.raises(DataError, match="HTTP 401.*invalid api key.*OPENAI_API_KEY"):
        _generator(server, concurrency=1).generate(rated_dataset, steps)
    assert server.requests <= 2  # no retries, no more requests (one may have been on its way)


def test_config_errors():
    with pytest.raises(ConfigError, match="openai.model: required"):
        OpenAIGenerator(OpenAIConfig())
    with pytest.raises(ConfigError, match="url"):
        OpenAIConfig(url="127.0.0.1:8000")
