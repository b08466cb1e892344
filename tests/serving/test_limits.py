"""Hostile input through a real server: oversized and chunked bodies, lone surrogates, large
echoes, and the limits the answers state (k, the queue)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

pytest.importorskip("fastapi", reason="the serving tests need genrec[serve] (fastapi)")
pytest.importorskip("httpx", reason="the serving tests need genrec[serve] (httpx)")

import httpx  # noqa: E402

from genrec.serving.app import MAX_ECHO_BYTES, create_app  # noqa: E402
from genrec.serving.schemas import MAX_CHARS, MAX_ID_CHARS, MAX_STATEMENTS  # noqa: E402
from genrec.serving.settings import Settings  # noqa: E402

from .conftest import live_server  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def url(sasrec_run):
    app = create_app(Settings(runs=[sasrec_run], max_history=8, preload_text=False))
    with live_server(app) as (url, _):
        yield url


def post_raw(url: str, body: bytes) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return httpx.post(f"{url}/v1/recommend", content=body, headers=headers, timeout=30)


@pytest.mark.parametrize(
    "body",
    [
        rb'{"history": ["\ud800"]}',
        rb'{"history": ["i1", "\udfff\ud800x"], "k": 2}',
        rb'{"history": ["i1"], "avoid": ["avoid \ud83d pens"]}',
        rb'{"history": ["i1"], "preferences": ["\ud800"]}',
        rb'{"history": ["i1"], "mode": "\ud800"}',
        rb'{"history": ["i1"], "k": "\ud800"}',
        rb'{"history": ["i1"], "\ud800": 1}',
        rb'{"history": {"\ud800": "\udc00"}}',
    ],
)
def test_a_lone_surrogate_anywhere_is_a_422_not_a_500(url, body):
    response = post_raw(url, body)
    assert response.status_code == 422, response.text
    assert all(error["msg"] for error in response.json()["detail"])


def test_a_surrogate_in_an_id_says_what_is_wrong(url):
    [error] = post_raw(url, rb'{"history": ["i1", "a\ud800"]}').json()["detail"]
    assert error["loc"] == ["body", "history", 1] and "unicode string" in error["msg"]
    assert "input" not in error
    # a surrogate pair is a character like any other: an unknown id, named
    response = post_raw(url, rb'{"history": ["\ud83d\ude00"]}')
    assert response.status_code == 422 and "unknown item ids" in response.text


def test_a_large_body_is_413_without_an_echo(url):
    huge = json.dumps({"history": ["B00006JNU5"] * 500_000}).encode()  # ~6.5 MB
    response = post_raw(url, huge)
    assert response.status_code == 413, response.text[:300]
    assert len(response.content) < 1000 and "at most" in response.json()["detail"]


def test_a_chunked_body_without_a_length_is_cut_at_the_limit(url):
    chunk = json.dumps(["B00006JNU5"] * 1000).encode()[1:-1] + b","
    sent = {"n": 0}

    def stream():
        yield b'{"history": ['
        for _ in range(1000):  # ~13 MB unless the server stops reading
            sent["n"] += 1
            yield chunk
        yield b'"i1"]}'

    try:
        response = httpx.post(
            f"{url}/v1/recommend",
            content=stream(),
            headers={"content-type": "application/json"},
            timeout=30,
        )
    except httpx.TransportError:  # the server may close while the client still sends
        assert sent["n"] < 1000  # it stopped reading
        return
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text[:300]
    assert sent["n"] < 1000 and "without a length" in response.json()["detail"]


def test_a_declared_length_over_the_limit_is_refused_before_the_body(url):
    """Only the headers are sent: the 413 comes without waiting for the body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/recommend HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 50000000\r\n\r\n"
        )
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_the_default_limit_holds_the_largest_valid_request(url):
    settings = Settings(max_history=200)
    widest = "\U0001f600"  # outside the BMP: 12 bytes as JSON escapes (a surrogate pair)
    body = {
        "history": [widest * MAX_ID_CHARS] * settings.max_history,
        "k": 10,
        "preferences": [widest * MAX_CHARS] * MAX_STATEMENTS,
        "avoid": [widest * MAX_CHARS] * MAX_STATEMENTS,
        "exclude_history": False,
        "mode": "direct",
    }
    assert len(json.dumps(body).encode()) <= settings.body_limit < 1_000_000
    assert Settings(max_history=400).body_limit > settings.body_limit
    assert Settings(max_body_bytes=4096).body_limit == 4096
    body["history"] = body["history"][:8]  # the test server's max_history
    response = post_raw(url, json.dumps(body).encode())
    assert response.status_code == 422 and "unknown item ids" in response.text


def test_a_validation_error_echoes_no_large_input(url):
    body = json.dumps({"history": ["i1"], "k": "x" * 5000}).encode()
    response = post_raw(url, body)
    assert response.status_code == 422 and len(response.content) < MAX_ECHO_BYTES
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "k"] and "input" not in error
    small = post_raw(url, b'{"history": ["i1"], "k": "x"}').json()["detail"][0]
    assert small["input"] == "x"  # a small echo still helps


def test_k_over_the_limit_states_the_real_limit(url):
    for k in (25, 100_000, 10**30):
        response = post_raw(url, json.dumps({"history": ["i1"], "k": k}).encode())
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "k"]
        assert f"k={k}: must be between 1 and 24" in error["msg"], error["msg"]
        assert "max_k is 100" in error["msg"] and "24 items" in error["msg"]
        assert "10000" not in error["msg"].split(":", 1)[1]  # the old schema's cap


def test_the_default_queue_refuses_before_the_latency_target():
    """A request waits about max_queue / throughput: at 100-400 requests/s (2 CPU cores, the
    measured range), the queue must drain within the 150 ms p99 target at the upper end and
    stay within a few times it at the lower one, not 14 s."""
    max_queue = Settings().max_queue
    assert max_queue / 400 <= 0.150 and max_queue / 100 <= 0.5
    assert max_queue >= 16  # a burst of a few dozen still queues instead of failing
