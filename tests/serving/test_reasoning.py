"""A run that reasons, served: /v1/info offers mode reasoning, each answer carries the chain
the model wrote, and batching and avoid work as in mode direct."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the serving tests need genrec[serve] (fastapi)")
pytest.importorskip("httpx", reason="the serving tests need genrec[serve] (httpx)")

from fastapi.testclient import TestClient  # noqa: E402

from genrec.recipes.recommend import RunRecommender  # noqa: E402
from genrec.serving import schemas  # noqa: E402
from genrec.serving.app import create_app  # noqa: E402
from genrec.serving.engine import Engine  # noqa: E402
from genrec.serving.settings import Settings  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def client(reasoning_run):
    with TestClient(create_app(Settings(runs=[reasoning_run], preload_text=False))) as client:
        yield client


def test_info_offers_reasoning_and_answers_carry_the_chain(client, reasoning_run):
    info = client.get("/v1/info").json()
    assert info["modes"] == ["reasoning"] and info["beams"] == 4
    answer = client.post("/v1/recommend", json={"history": ["i1", "i2"], "k": 5}).json()
    expected = RunRecommender(reasoning_run).recommend(history=["i1", "i2"], k=5)
    assert answer["mode"] == "reasoning"  # a request naming no mode gets the run's own
    assert isinstance(answer["reasoning"], str) and answer["reasoning"] == expected.chain
    assert expected.chain_truncated is not None  # a chain: it was cut off or it was not
    assert answer["reasoning_truncated"] == expected.chain_truncated
    assert [r["item_id"] for r in answer["items"]] == [r.item_id for r in expected.items]
    named = client.post(
        "/v1/recommend", json={"history": ["i1", "i2"], "k": 5, "mode": "reasoning"}
    )
    assert named.json() == answer


def test_mode_direct_on_a_run_that_reasons_is_422_naming_its_mode(client):
    response = client.post("/v1/recommend", json={"history": ["i1"], "mode": "direct"})
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "mode"] and "use mode 'reasoning'" in detail["msg"]


def test_avoid_is_enforced_in_mode_reasoning_and_the_chain_kept(client):
    body = {"history": ["i1", "i2"], "k": 24, "avoid": ["avoid pens"], "exclude_history": False}
    answer = client.post("/v1/recommend", json=body).json()
    listed = {r["title"] for r in answer["items"]}
    assert listed and not any(title.endswith("pen") for title in listed)
    assert answer["avoided"][0]["n_items"] >= 4 and isinstance(answer["reasoning"], str)


def test_a_batch_of_reasoning_requests_gives_each_its_own_chain_and_list(reasoning_run):
    engine = Engine.load(Settings(runs=[reasoning_run], preload_text=False))
    requests = [
        schemas.RecommendRequest(history=["i3", "i4"], k=2),
        schemas.RecommendRequest(history=["i9"], k=7),  # more than the 4 beams
        schemas.RecommendRequest(history=["i20", "i21", "i22"], k=3, exclude_history=True),
    ]
    prepared = [engine.prepare(r) for r in requests]
    together = engine.recommend(prepared)
    assert [len(a.items) for a in together] == [2, 7, 3]
    assert all(a.reasoning is not None and a.reasoning_truncated is not None for a in together)
    alone = [engine.recommend([p])[0] for p in prepared]
    # the same chains and lists; scores equal up to float rounding (a batch of another shape
    # may take another matrix kernel: AVX2 CPUs differ in the 7th digit)
    for one, other in zip(together, alone, strict=True):
        assert (one.reasoning, one.reasoning_truncated) == (
            other.reasoning,
            other.reasoning_truncated,
        )
        assert [i.item_id for i in one.items] == [i.item_id for i in other.items]
        assert [i.score for i in one.items] == pytest.approx([i.score for i in other.items], 1e-5)
