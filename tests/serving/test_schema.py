"""Property: whatever body reaches POST /v1/recommend, the answer is 200 or a 4xx, never a 500."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi", reason="the serving tests need genrec[serve] (fastapi)")
pytest.importorskip("httpx", reason="the serving tests need genrec[serve] (httpx)")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from genrec.serving.app import create_app  # noqa: E402
from genrec.serving.settings import Settings  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

KNOWN = [f"i{i}" for i in range(24)]
# JSON's "\ud800" escapes carry lone surrogates, which no answer can encode back as UTF-8
strings = st.text(max_size=20) | st.text(st.characters(categories=["Cs"]) | st.characters())
scalars = st.none() | st.booleans() | st.integers() | st.floats() | strings
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner),
    max_leaves=8,
)
texts = (
    st.text(max_size=320)
    | st.sampled_from(["avoid it", "no", "avoid pens", " ", "blue"])
    | strings.map(lambda s: f"avoid {s}")
)
ids = st.sampled_from(KNOWN) | strings
fields = {
    "history": st.lists(ids, max_size=12) | anything,
    "k": st.integers(-3, 40) | anything,
    "preferences": st.lists(texts, max_size=3) | anything,
    "avoid": st.lists(texts, max_size=3) | anything,
    "exclude_history": st.booleans() | st.none() | anything,
    "mode": st.sampled_from(["direct", "reasoning", "other"]) | anything,
    "extra": anything,
}
bodies = st.fixed_dictionaries({}, optional=fields) | st.dictionaries(strings, anything)


@pytest.fixture(scope="module")
def client(sasrec_run):
    with TestClient(create_app(Settings(runs=[sasrec_run], max_history=10))) as client:
        yield client


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_any_request_body_is_answered_without_a_server_error(client, body):
    response = client.post(
        "/v1/recommend",
        content=json.dumps(body, allow_nan=True),
        headers={"content-type": "application/json"},
    )
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        answer = response.json()
        assert 1 <= len(answer["items"]) <= body.get("k", 10)
    else:
        assert all(error["msg"] for error in response.json()["detail"])


@settings(max_examples=50, deadline=None)
@given(raw=st.binary(max_size=64))
def test_any_bytes_are_answered_without_a_server_error(client, raw):
    response = client.post(
        "/v1/recommend", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
