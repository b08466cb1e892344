"""The HTTP API over tiny trained runs: answers, bad input, metrics, start-up and shutdown."""

from __future__ import annotations

import gc
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="the serving tests need genrec[serve] (fastapi)")
pytest.importorskip("httpx", reason="the serving tests need genrec[serve] (httpx)")

import httpx  # noqa: E402
import torch  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from genrec.cli.main import app as cli  # noqa: E402
from genrec.errors import ConfigError, DataError, GenrecError  # noqa: E402
from genrec.recipes.recommend import RunRecommender  # noqa: E402
from genrec.serving import schemas  # noqa: E402
from genrec.serving.app import create_app  # noqa: E402
from genrec.serving.engine import Engine  # noqa: E402
from genrec.serving.settings import Settings  # noqa: E402

from .conftest import TITLES, live_server  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def client(sasrec_run):
    with TestClient(create_app(Settings(runs=[sasrec_run], max_history=8))) as client:
        yield client


def ask(client: TestClient, **body):
    return client.post("/v1/recommend", json=body)


def test_a_history_gets_the_runs_list_with_titles_and_scores(client, sasrec_run):
    response = ask(client, history=["i1", "i2", "i3"], k=5, exclude_history=True)
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = RunRecommender(sasrec_run).recommend(
        history=["i1", "i2", "i3"], k=5, exclude_history=True
    )
    assert [(r["item_id"], r["title"], r["rank"]) for r in answer["items"]] == [
        (r.item_id, r.title, r.rank) for r in expected.items
    ]
    assert [r["score"] for r in answer["items"]] == pytest.approx([r.score for r in expected.items])
    assert {r["item_id"] for r in answer["items"]}.isdisjoint({"i1", "i2", "i3"})
    assert answer["history"][0] == {"item_id": "i1", "title": "Blue pen"}
    assert answer["ignored"] == [] and answer["avoided"] == [] and answer["reasoning"] is None
    assert answer["reasoning_truncated"] is None  # no chain, so nothing was cut off


def test_preferences_are_reported_ignored_and_avoid_is_enforced(client):
    answer = ask(
        client, history=["i1"], k=20, preferences=["blue things"], avoid=["avoid staplers"]
    ).json()
    assert len(answer["ignored"]) == 1 and answer["ignored"][0].startswith("preferences:")
    titles = [r["title"] for r in answer["items"]]
    assert len(titles) == 20 and not any("stapler" in t for t in titles)
    [avoided] = answer["avoided"]
    assert avoided["subject"] == "staplers" and avoided["n_items"] >= 4
    assert all("stapler" in e["title"] for e in avoided["examples"])


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"history": ["i1", "nope", "i2", "gone"]}, "history", "unknown item ids 'nope', 'gone'"),
        ({"history": ["i1"], "k": 25}, "k", "k=25: must be between 1 and 24"),
        ({"history": ["i1"] * 9}, "history", "9 item ids: at most 8"),
        ({"history": ["i1"], "mode": "reasoning"}, "mode", "use mode 'direct'"),
        ({"history": ["i1"], "avoid": ["avoid it"]}, "avoid", "names nothing to avoid"),
        ({"history": []}, "history", "at least 1 item"),
        ({"history": [""]}, "history", "at least 1 character"),
        ({"history": ["i1"], "k": 0}, "k", "greater than or equal to 1"),
        ({"history": ["i1"], "avoid": ["  "]}, "avoid", "at least 1 character"),
        ({"history": ["i1"], "preferences": ["x" * 301]}, "preferences", "at most 300"),
        ({"history": ["i1"], "mode": "chat"}, "mode", "'direct' or 'reasoning'"),
        ({"history": ["i1"], "user": "u1"}, "user", "Extra inputs"),
        ({"history": "i1"}, "history", "valid list"),
    ],
)
def test_bad_requests_are_422_naming_the_field(client, body, field, message):
    response = ask(client, **body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(field in e["loc"] and message in e["msg"] for e in errors), errors


def test_malformed_json_is_422_not_500(client):
    for raw in (b'{"history": [', b"not json", b"", b'{"history": Infinity, "k": NaN}'):
        response = client.post(
            "/v1/recommend", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (raw, response.text)


def test_item_search_lookup_and_info(client):
    found = client.get("/v1/items", params={"q": "stapler", "limit": 4}).json()
    assert len(found) == 4 and all("stapler" in f["title"] for f in found)
    assert client.get("/v1/items", params={"q": "i7", "limit": 3}).json()[0]["item_id"] == "i7"
    assert client.get("/v1/items", params={"q": "  "}).status_code == 422
    assert client.get("/v1/items", params={"q": "pen", "limit": 0}).status_code == 422
    assert client.get("/v1/items").status_code == 422
    item = client.get("/v1/items/i5").json()
    assert item["title"] == TITLES[5] and TITLES[5] in item["text"]
    missing = client.get("/v1/items/nope")
    assert missing.status_code == 404 and "'nope'" in missing.json()["detail"]
    info = client.get("/v1/info").json()
    assert info["model"] == "sasrec" and info["n_items"] == 24 and info["max_k"] == 24
    assert info["modes"] == ["direct"] and info["reads_preferences"] is False
    assert info["beams"] is None and info["device"] == "cpu"


def test_info_names_the_runs_without_their_paths(client, sasrec_run):
    runs = client.get("/v1/info").json()["runs"]
    assert runs == [sasrec_run.name] and "/" not in runs[0]
    assert str(sasrec_run.parent) not in client.get("/v1/info").text


def test_health_readiness_docs_page_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.get("/docs").status_code == 200  # /docs itself: tests/serving/test_docs.py
    assert "/v1/recommend" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="recommend"' in page.text
    assert "fetch(" in client.get("/static/app.js").text
    ask(client, history=["i1"], k=3)
    client.get("/v1/items/nope")
    metrics = client.get("/metrics").text
    assert 'genrec_requests_total{route="/v1/recommend",status="200"}' in metrics
    assert 'genrec_requests_total{route="/v1/items/{item_id}",status="404"}' in metrics
    assert 'genrec_request_seconds_bucket{le="0.15",route="/v1/recommend"}' in metrics
    assert "genrec_batch_size_count" in metrics and "genrec_queue_depth 0.0" in metrics


def test_concurrent_requests_are_decoded_together(sasrec_run):
    settings = Settings(runs=[sasrec_run], max_batch=16, max_wait_ms=200, preload_text=False)
    with TestClient(create_app(settings)) as client, ThreadPoolExecutor(16) as pool:
        histories = [[f"i{i}", f"i{i + 1}"] for i in range(16)]
        answers = list(pool.map(lambda h: ask(client, history=h, k=3), histories))
        assert all(a.status_code == 200 for a in answers)
        alone = [ask(client, history=h, k=3).json()["items"] for h in histories]
        together = [a.json()["items"] for a in answers]
        # batching changes no answer (scores only in their last float bits)
        assert [[r["item_id"] for r in a] for a in together] == [
            [r["item_id"] for r in a] for a in alone
        ]
        assert [r["score"] for a in together for r in a] == pytest.approx(
            [r["score"] for a in alone for r in a], abs=1e-5
        )
        metrics = client.get("/metrics").text
    count = float(metrics.split("genrec_batch_size_count ")[1].split()[0])
    assert count < 32  # 16 alone + far fewer than 16 batches for the concurrent ones


def test_a_generators_batch_gives_each_request_its_own_answer(decoder_run):
    engine = Engine.load(Settings(runs=[decoder_run], preload_text=False))
    requests = [
        schemas.RecommendRequest(history=["i3", "i4"], k=2),
        schemas.RecommendRequest(history=["i9"], k=7),  # more than the 4 beams
        schemas.RecommendRequest(history=["i3", "i4"], k=3, exclude_history=True),
    ]
    assert engine.info().beams == 4
    prepared = [engine.prepare(r) for r in requests]
    together = engine.recommend(prepared)
    assert [len(a.items) for a in together] == [2, 7, 3]
    assert together == [engine.recommend([p])[0] for p in prepared]


def test_runs_on_the_same_ids_are_served_as_one_ensemble(decoder_run):
    engine = Engine.load(Settings(runs=[decoder_run, decoder_run], preload_text=False))
    assert engine.info().model == "ensemble of 2 runs"
    [answer] = engine.recommend([engine.prepare(schemas.RecommendRequest(history=["i3"], k=3))])
    assert len(answer.items) == 3


def test_a_full_queue_answers_429(sasrec_run):
    settings = Settings(
        runs=[sasrec_run], max_batch=1, max_wait_ms=0, max_queue=1, preload_text=False
    )
    app = create_app(settings)
    started, release = threading.Event(), threading.Event()
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        decode = app.state.batcher.process

        def blocked(batch):
            started.set()
            release.wait(10)
            return decode(batch)

        app.state.batcher.process = blocked
        first = pool.submit(ask, client, history=["i1"], k=2)  # decoding, held
        assert started.wait(10)
        second = pool.submit(ask, client, history=["i2"], k=2)  # waits in the queue
        for _ in range(200):
            if app.state.batcher.depth == 1:
                break
            threading.Event().wait(0.01)
        refused = ask(client, history=["i3"], k=2)
        release.set()
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert first.result().status_code == 200 and second.result().status_code == 200


def test_shutdown_answers_the_requests_in_flight(sasrec_run):
    settings = Settings(runs=[sasrec_run], max_batch=64, max_wait_ms=500, preload_text=False)
    app = create_app(settings)
    with live_server(app) as (url, server), ThreadPoolExecutor(8) as pool:
        futures = [
            pool.submit(httpx.post, f"{url}/v1/recommend", json={"history": [f"i{i}"], "k": 2})
            for i in range(8)
        ]
        for _ in range(200):  # every request is waiting in the batcher's 500 ms window
            if app.state.batcher.depth == 8:
                break
            threading.Event().wait(0.01)
        server.should_exit = True  # what SIGTERM does
        answers = [f.result(timeout=30) for f in futures]
    assert [a.status_code for a in answers] == [200] * 8
    assert all(len(a.json()["items"]) == 2 for a in answers)


runner = CliRunner()


def test_a_missing_or_corrupt_run_fails_at_start_up_in_one_line(sasrec_run, tmp_path):
    result = runner.invoke(cli, ["serve", str(tmp_path / "nothing")])
    assert isinstance(result.exception, DataError)
    assert "no such run directory" in str(result.exception)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(sasrec_run, corrupt)
    (corrupt / "checkpoints" / "best" / "model.safetensors").write_bytes(b"not a checkpoint")
    result = runner.invoke(cli, ["serve", str(corrupt)])
    assert isinstance(result.exception, DataError), result.output
    message = str(result.exception)
    assert "model.safetensors: cannot read weights" in message and "\n" not in message
    (corrupt / "checkpoints" / "best" / "model.safetensors").unlink()
    result = runner.invoke(cli, ["serve", str(corrupt)])
    assert isinstance(result.exception, GenrecError), result.output
    assert str(corrupt) in str(result.exception) and "\n" not in str(result.exception)
    result = runner.invoke(cli, ["serve", str(sasrec_run), "--port", "70000"])
    assert "port" in str(result.exception) and "\n" not in str(result.exception)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_a_device_this_machine_lacks_is_refused_before_loading(sasrec_run):
    result = runner.invoke(cli, ["serve", str(sasrec_run), "--device", "cuda"])
    assert isinstance(result.exception, ConfigError)
    assert "torch sees no CUDA device" in str(result.exception)
    result = runner.invoke(cli, ["serve", str(sasrec_run), "--device", "tpu9"])
    assert isinstance(result.exception, ConfigError) and "'tpu9'" in str(result.exception)


@pytest.mark.gpu
@pytest.mark.parametrize("run", ["sasrec_run", "decoder_run"])
def test_on_a_gpu_the_answers_are_the_cpus(run, request):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    path = request.getfixturevalue(run)
    cpu = Engine.load(Settings(runs=[path], preload_text=False))
    gpu = Engine.load(Settings(runs=[path], preload_text=False, device="cuda"))
    assert gpu.device.type == "cuda"
    asked = [schemas.RecommendRequest(history=["i3", "i4"], k=5, exclude_history=True)]
    want = cpu.recommend([cpu.prepare(r) for r in asked])[0]
    got = gpu.recommend([gpu.prepare(r) for r in asked])[0]
    assert [r.item_id for r in got.items] == [r.item_id for r in want.items]
    assert [r.score for r in got.items] == pytest.approx([r.score for r in want.items], abs=1e-4)


def test_the_loaded_objects_are_frozen_out_of_garbage_collection(sasrec_run):
    """Full collections over the loaded libraries stalled every request for ~1 s under load."""
    with TestClient(create_app(Settings(runs=[sasrec_run], preload_text=False))):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


def test_a_request_failing_in_its_batch_fails_alone(sasrec_run, monkeypatch):
    engine = Engine.load(Settings(runs=[sasrec_run], preload_text=False))
    decode = engine._decode

    def picky(batch):  # stands for a failure that only one request's content triggers
        if any("i13" in p.request.history for p in batch):
            raise DataError("i13 cannot be decoded")
        return decode(batch)

    monkeypatch.setattr(engine, "_decode", picky)
    asked = [["i1"], ["i13"], ["i2"]]
    answers = engine.recommend(
        [engine.prepare(schemas.RecommendRequest(history=h, k=2)) for h in asked]
    )
    good, bad, other = answers
    assert isinstance(bad, DataError) and str(bad) == "i13 cannot be decoded"
    assert isinstance(good, schemas.RecommendResponse) and len(other.items) == 2
    with TestClient(create_app(Settings(runs=[sasrec_run], preload_text=False), engine)) as client:
        response = ask(client, history=["i13"], k=2)
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"] == "i13 cannot be decoded"
        assert ask(client, history=["i1"], k=2).status_code == 200


def test_an_llm_that_reads_statements_as_text_takes_preferences(reasoning_run):
    from genrec.recommend.prompted import PromptedRecommender

    settings = Settings(runs=[reasoning_run], preload_text=False)
    recommender = RunRecommender([reasoning_run])
    reasoning = recommender.model
    assert Engine(recommender, settings).reads_preferences is False  # trained without them
    reasoning.max_statements = 2
    assert Engine(recommender, settings).reads_preferences is True
    recommender.model = PromptedRecommender(reasoning.model, beams=4, max_statements=2)
    engine = Engine(recommender, settings)
    assert engine.reads_preferences and engine.modes == ["direct"] and engine._beams == 4
    assert recommender.model.capabilities.modules == (reasoning.model,)
