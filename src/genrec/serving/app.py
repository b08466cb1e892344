"""The FastAPI app: routes over an ``Engine``, a micro-batcher in front of its decoding, the
metrics, and the web page (static files, no build step).

``create_app(settings)`` loads the run in the lifespan (once, at start-up); `genrec serve`
loads it first and passes the engine in, so a broken run is one line before any port opens.
Shutdown (uvicorn stops taking connections and waits for open requests) closes the batcher
after every accepted request has its answer."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from genrec.errors import GenrecError
from genrec.serving import schemas
from genrec.serving.batcher import Closed, MicroBatcher, QueueFull
from genrec.serving.body_limit import BodyLimit
from genrec.serving.engine import Engine, Prepared, RequestError
from genrec.serving.metrics import Metrics, MetricsMiddleware
from genrec.serving.settings import Settings

STATIC = Path(__file__).parent / "static"
#: Largest input a 422 echoes back (JSON bytes): a 6 MB body is not worth sending back.
MAX_ECHO_BYTES = 1024

Batcher = MicroBatcher[Prepared, schemas.RecommendResponse]


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The service for ``settings`` (default: from ``GENREC_SERVE_*``); ``engine``: an already
    loaded run (else the lifespan loads ``settings.runs``)."""
    settings = settings or Settings()
    app = FastAPI(
        title="genrec",
        summary="Recommendations from a trained genrec run",
        lifespan=_lifespan,
        docs_url=None,  # served by `docs` below: with local assets, or saying how to get them
        redoc_url=None,  # ReDoc loads from a CDN too; /docs and /openapi.json cover it
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.batcher = None
    # One thread runs every model call (decoding, encoding queries): torch and the encoder are
    # not shared between threads, and on CPU one call already uses the cores it is given.
    app.state.model_thread = ThreadPoolExecutor(1, thread_name_prefix="genrec-model")
    app.state.metrics = Metrics(lambda: app.state.batcher.depth if app.state.batcher else 0)
    # inside the metrics: a 413 is counted like any other answer
    app.add_middleware(BodyLimit, max_bytes=settings.body_limit)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_exception_handler(RequestError, _request_error)
    app.add_exception_handler(GenrecError, _genrec_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.docs_assets = docs_assets(settings)
    if app.state.docs_assets is not None:
        assets = StaticFiles(directory=app.state.docs_assets)
        app.mount("/docs-assets", assets, name="docs-assets")
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load (unless given), warm up, take requests; on shutdown answer the accepted ones."""
    state, loop = app.state, asyncio.get_running_loop()
    if state.engine is None:
        state.engine = await loop.run_in_executor(state.model_thread, Engine.load, state.settings)
    await loop.run_in_executor(state.model_thread, state.engine.warm_up)
    # The loaded libraries, run and catalog are millions of long-lived objects: a full garbage
    # collection scanning them stalled every request for ~1 s on a busy 2-core machine. Frozen,
    # they are never scanned again; collections then see only what requests allocate.
    gc.collect()
    gc.freeze()
    batcher = MicroBatcher(
        state.engine.recommend,
        state.model_thread,
        max_batch=state.settings.max_batch,
        max_wait_ms=state.settings.max_wait_ms,
        max_queue=state.settings.max_queue,
        on_batch=state.metrics.batch_size.observe,
    )
    batcher.start()
    state.batcher = batcher
    try:
        yield
    finally:
        await batcher.close()
        state.model_thread.shutdown(wait=True)
        gc.unfreeze()


async def _request_error(request: Request, exc: Exception) -> JSONResponse:
    """A RequestError in FastAPI's own 422 shape, so clients parse one kind of error."""
    assert isinstance(exc, RequestError)
    detail = {"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}
    if exc.value is not None:
        detail["input"] = exc.value
    return JSONResponse({"detail": [_echoable(detail)]}, status_code=422)


async def _genrec_error(request: Request, exc: Exception) -> JSONResponse:
    """genrec's own errors while answering (e.g. an avoid statement the matcher refuses) are
    about the request: a 422 with genrec's message, never a 500."""
    detail = {"loc": ["body"], "msg": str(exc), "type": "value_error"}
    return JSONResponse({"detail": [detail]}, status_code=422)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with only the echoes that are small and encodable (``_echoable``)."""
    assert isinstance(exc, RequestValidationError)
    errors = [_echoable(error) for error in jsonable_encoder(exc.errors())]
    return JSONResponse({"detail": errors}, status_code=422)


def _echoable(error: dict) -> dict:
    """``error`` without its echoed ``input`` (and ``ctx``) where the echo is over
    ``MAX_ECHO_BYTES`` or cannot be encoded (a NaN or Infinity the parser accepted, a lone
    surrogate from a ``\\ud800`` escape), and with such a surrogate in a field name (``loc``)
    written as its escape: a 422 must never become a 500, nor a 6 MB answer."""
    try:
        size = len(json.dumps(error, allow_nan=False, ensure_ascii=False).encode("utf-8"))
    except (ValueError, UnicodeEncodeError):
        size = None
    if size is None or size > MAX_ECHO_BYTES:
        error = {key: value for key, value in error.items() if key not in ("input", "ctx")}
        error["loc"] = [_text(part) for part in error.get("loc", [])]
        error["msg"] = _text(error.get("msg", ""))
    return error


def _text(part: object) -> object:
    """A string with its unencodable characters (lone surrogates) as ``\\uXXXX`` text."""
    if not isinstance(part, str):
        return part
    return part.encode("utf-8", "backslashreplace").decode("utf-8")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    if request.app.state.engine is None:
        raise HTTPException(503, "the model is still loading")
    return request.app.state.engine


def get_batcher(request: Request) -> Batcher:
    batcher = request.app.state.batcher
    if batcher is None or not batcher.running:
        raise HTTPException(503, "the service is not ready (starting or shutting down)")
    return batcher


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
BatcherDep = Annotated[Batcher, Depends(get_batcher)]
router = APIRouter()


@router.post("/v1/recommend", response_model=schemas.RecommendResponse)
async def recommend(
    body: schemas.RecommendRequest, engine: EngineDep, batcher: BatcherDep
) -> Response:
    """Top ``k`` items after ``history`` (the dataset's item ids, oldest first), with titles
    and scores; ``ignored`` says what of the request this model could not use."""
    prepared = engine.prepare(body)
    try:
        answer = await batcher.submit(prepared)
        # Serialised by pydantic-core directly: the engine built a valid response already, and
        # FastAPI's response_model path would validate it a second time (the hot path).
        return Response(answer.model_dump_json(), media_type="application/json")
    except QueueFull as exc:
        raise HTTPException(
            429, f"too many requests waiting ({exc})", {"Retry-After": "1"}
        ) from None
    except Closed as exc:
        raise HTTPException(503, str(exc)) from None


@router.get("/v1/items", response_model=list[schemas.Found])
async def search(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=1, max_length=schemas.MAX_CHARS)],
    limit: Annotated[int, Query(ge=1, le=schemas.MAX_K)] = 10,
) -> list[schemas.Found]:
    """Items whose text is closest to ``q`` (sentence-encoder cosine), best first; an exact
    item id comes first. ``limit`` is capped by the service's ``max_search``."""
    if not q.strip():
        raise RequestError("q", "the query is blank: type part of an item's name")
    limit = min(limit, settings.max_search)
    loop = asyncio.get_running_loop()
    thread = request.app.state.model_thread
    return await loop.run_in_executor(thread, engine.search, q.strip(), limit)


@router.get("/v1/items/{item_id}", response_model=schemas.ItemDetail)
async def item(item_id: str, engine: EngineDep) -> schemas.ItemDetail:
    """One item by its id in the dataset."""
    found = engine.item(item_id)
    if found is None:
        raise HTTPException(404, f"item {item_id!r} is not in the catalog")
    return found


@router.get("/v1/info", response_model=schemas.Info)
async def info(engine: EngineDep) -> schemas.Info:
    """The run(s) served, the catalog and the request limits."""
    return engine.info()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers (liveness)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(batcher: BatcherDep) -> dict[str, str]:
    """The model is loaded and requests are taken (readiness: 503 while loading or draining,
    so a load balancer sends traffic elsewhere)."""
    return {"status": "ready"}


@router.get("/metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


#: Shown on /docs when Swagger UI's script did not load (offline, or a CDN blocked).
DOCS_OFFLINE = """<div id="offline" style="font: 15px/1.4 system-ui, sans-serif; margin: 2rem">
<h2>The API docs could not load Swagger UI</h2>
<p>This page loads Swagger UI from {source}, which this browser could not reach (offline?).
The API's schema needs neither: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3), and
docs/serving.md describes every route.</p>
<p>To browse the docs offline, install the <code>serve</code> extra
(<code>pip install 'genrec[serve]'</code>: its <code>fastapi-offline</code> package ships
Swagger UI), or start the service with <code>GENREC_SERVE_DOCS_ASSETS</code> naming a folder
that holds <code>swagger-ui-bundle.js</code> and <code>swagger-ui.css</code>.</p>
</div>
<script>
if (typeof SwaggerUIBundle === "undefined") document.getElementById("swagger-ui").remove();
else document.getElementById("offline").remove();
</script>
"""


def docs_assets(settings: Settings) -> Path | None:
    """The folder /docs loads Swagger UI from: ``settings.docs_assets``, else the one the
    fastapi-offline package ships (in the serve extra), else None (a CDN)."""
    if settings.docs_assets is not None:
        return settings.docs_assets
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    shipped = Path(spec.origin).parent / "static"
    return shipped if (shipped / "swagger-ui-bundle.js").is_file() else None


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI over /openapi.json, from local assets when there are some (else a CDN), and
    a note saying how to read the API offline should its script not load."""
    assets, source = {}, "a CDN (jsdelivr.net)"
    if request.app.state.docs_assets is not None:
        assets = {
            "swagger_js_url": "/docs-assets/swagger-ui-bundle.js",
            "swagger_css_url": "/docs-assets/swagger-ui.css",
            "swagger_favicon_url": "data:,",
        }
        source = "this service (/docs-assets/)"
    page = get_swagger_ui_html(
        openapi_url="/openapi.json", title="genrec - API docs", **assets
    ).body.decode()
    note = DOCS_OFFLINE.format(source=source)
    return HTMLResponse(page.replace("</body>", note + "</body>"))


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html")
