"""/docs works offline: Swagger UI from the service itself, or a page saying how to read the API
without it; never a blank page waiting on a CDN."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serving tests need genrec[serve] (fastapi)")
pytest.importorskip("httpx", reason="the serving tests need genrec[serve] (httpx)")

from fastapi.testclient import TestClient  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from genrec.serving import app as app_module  # noqa: E402
from genrec.serving.app import create_app  # noqa: E402
from genrec.serving.settings import Settings  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

CDN = "cdn.jsdelivr.net"


def scripts_and_styles(page: str) -> list[str]:
    """The src/href of every script and stylesheet the page loads."""
    found = []
    for marker in ('<script src="', 'rel="stylesheet" href="'):
        found += [part.split('"', 1)[0] for part in page.split(marker)[1:]]
    return found


def test_docs_load_swagger_ui_from_a_given_folder(sasrec_run, tmp_path):
    (tmp_path / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = function () {};")
    (tmp_path / "swagger-ui.css").write_text("body {}")
    settings = Settings(runs=[sasrec_run], docs_assets=tmp_path, preload_text=False)
    with TestClient(create_app(settings)) as client:
        page = client.get("/docs").text
        loaded = scripts_and_styles(page)
        assert loaded and not any(CDN in url or "//" in url for url in loaded), loaded
        for url in loaded:
            assert client.get(url).status_code == 200, url
        assert "SwaggerUIBundle = function" in client.get("/docs-assets/swagger-ui-bundle.js").text
        assert "/openapi.json" in page


def test_docs_without_local_assets_say_how_to_read_the_api_offline(sasrec_run, monkeypatch):
    monkeypatch.setattr(app_module, "docs_assets", lambda settings: None)
    with TestClient(create_app(Settings(runs=[sasrec_run], preload_text=False))) as client:
        page = client.get("/docs").text
        assert any(CDN in url for url in scripts_and_styles(page))
        # shown only when SwaggerUIBundle did not load: the schema, and how to get the docs
        assert 'id="offline"' in page and 'typeof SwaggerUIBundle === "undefined"' in page
        assert 'href="/openapi.json"' in page and "GENREC_SERVE_DOCS_ASSETS" in page
        assert "genrec[serve]" in page
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/redoc").status_code == 404  # ReDoc would be blank offline


@pytest.mark.skipif(
    importlib.util.find_spec("fastapi_offline") is None,
    reason="fastapi-offline (genrec[serve]) is not installed",
)
def test_the_serve_extra_serves_swagger_ui_from_the_package(sasrec_run):
    with TestClient(create_app(Settings(runs=[sasrec_run], preload_text=False))) as client:
        page = client.get("/docs").text
        loaded = scripts_and_styles(page)
        assert loaded and not any(CDN in url for url in loaded), loaded
        bundle = client.get("/docs-assets/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
        assert client.get("/docs-assets/swagger-ui.css").status_code == 200


def test_a_docs_folder_without_swagger_ui_is_refused(tmp_path: Path):
    with pytest.raises(ValidationError, match="swagger-ui-bundle.js"):
        Settings(docs_assets=tmp_path)
