"""The web page in headless Chromium (Debian's chromium and chromedriver, driven by selenium):
search items, build a history, ask with an avoid statement, read the rendered list."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("fastapi", reason="the serving tests need genrec[serve] (fastapi)")
pytest.importorskip("httpx", reason="the serving tests need genrec[serve] (httpx)")
pytest.importorskip("selenium", reason="the browser test needs selenium (genrec[test])")

import httpx  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from genrec.serving.app import create_app  # noqa: E402
from genrec.serving.settings import Settings  # noqa: E402

from .conftest import live_server  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="no chromium/chromedriver on PATH (Debian: apt-get install chromium "
        "chromium-driver)",
    ),
    pytest.mark.usefixtures("one_thread"),
]


def chromium(extra: list[str] | None = None) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in [
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        *(extra or []),
    ]:
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def test_the_page_builds_a_history_and_lists_recommendations(sasrec_run):
    app = create_app(Settings(runs=[sasrec_run]))
    with live_server(app) as (url, _), chromium() as browser:
        wait = WebDriverWait(browser, 20)
        browser.get(url)
        wait.until(ec.text_to_be_present_in_element((By.ID, "info"), "24 items"))
        search = browser.find_element(By.ID, "search")
        for query in ("blue pen", "red stapler"):
            search.clear()
            search.send_keys(query)
            wait.until(
                ec.text_to_be_present_in_element(
                    (By.CSS_SELECTOR, "#search-results li"), query.capitalize()
                )
            )
            browser.find_element(By.CSS_SELECTOR, "#search-results li").click()
        history = browser.find_elements(By.CSS_SELECTOR, "#history li")
        assert [h.find_element(By.CLASS_NAME, "title").text for h in history] == [
            "Blue pen",
            "Red stapler",
        ]
        browser.find_element(By.ID, "avoid").send_keys("avoid notebooks")
        browser.find_element(By.ID, "prefer").send_keys("green things")
        k = browser.find_element(By.ID, "k")
        k.clear()
        k.send_keys("6")
        browser.find_element(By.ID, "recommend").click()
        rows = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#results li") or None)
        shown = [
            (r.find_element(By.CLASS_NAME, "title").text, r.find_element(By.CLASS_NAME, "id").text)
            for r in rows
        ]
        expected = httpx.post(
            f"{url}/v1/recommend",
            json={
                "history": ["i1", "i4"],
                "k": 6,
                "avoid": ["avoid notebooks"],
                "preferences": ["green things"],
                "exclude_history": True,
            },
        ).json()
        assert shown == [(r["title"], r["item_id"]) for r in expected["items"]]
        assert len(shown) == 6 and not any("notebook" in title for title, _ in shown)
        notes = browser.find_element(By.ID, "notes").text
        assert "preferences" in notes and "does not read them" in notes
        avoided = browser.find_element(By.ID, "avoided").text
        assert "excluded 4 items" in avoided and "e.g." in avoided
        assert not avoided.startswith("avoid “avoid")
        assert browser.find_element(By.ID, "score-legend").is_displayed()
        assert not browser.find_element(By.ID, "reasoning").is_displayed()
        assert not browser.find_element(By.ID, "error").is_displayed()
        # the shown search result (Red stapler) is in the history already: a click adds nothing
        browser.find_element(By.CSS_SELECTOR, "#search-results li").click()
        assert len(browser.find_elements(By.CSS_SELECTOR, "#history li")) == 2
        for _ in range(2):  # emptying the history clears the list it answered
            browser.find_element(By.CSS_SELECTOR, "#history li .remove").click()
        assert browser.find_elements(By.CSS_SELECTOR, "#results li") == []
        assert not browser.find_element(By.ID, "score-legend").is_displayed()
        assert browser.find_element(By.ID, "avoided").text == ""


def test_docs_offline_say_where_the_schema_is(sasrec_run, monkeypatch):
    """Without local Swagger UI files and without the CDN (blocked here), /docs is not blank."""
    from genrec.serving import app as app_module

    monkeypatch.setattr(app_module, "docs_assets", lambda settings: None)
    app = create_app(Settings(runs=[sasrec_run], preload_text=False))
    options_blocking_the_cdn = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    with live_server(app) as (url, _), chromium(options_blocking_the_cdn) as browser:
        browser.get(f"{url}/docs")
        offline = WebDriverWait(browser, 20).until(
            ec.visibility_of_element_located((By.ID, "offline"))
        )
        assert "/openapi.json" in offline.text and "GENREC_SERVE_DOCS_ASSETS" in offline.text


def test_docs_render_swagger_ui_from_local_files(sasrec_run):
    pytest.importorskip("fastapi_offline", reason="fastapi-offline (genrec[serve]) ships them")
    app = create_app(Settings(runs=[sasrec_run], preload_text=False))
    options_blocking_the_cdn = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    with live_server(app) as (url, _), chromium(options_blocking_the_cdn) as browser:
        browser.get(f"{url}/docs")
        WebDriverWait(browser, 30).until(
            ec.text_to_be_present_in_element((By.ID, "swagger-ui"), "/v1/recommend")
        )
        assert browser.find_elements(By.ID, "offline") == []


def test_the_page_offers_mode_reasoning_and_shows_the_chain(reasoning_run):
    app = create_app(Settings(runs=[reasoning_run]))
    with live_server(app) as (url, _), chromium() as browser:
        wait = WebDriverWait(browser, 20)
        browser.get(url)
        wait.until(ec.text_to_be_present_in_element((By.ID, "mode"), "reasoning"))
        search = browser.find_element(By.ID, "search")
        search.send_keys("blue pen")
        wait.until(
            ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#search-results li"), "Blue pen")
        )
        browser.find_element(By.CSS_SELECTOR, "#search-results li").click()
        browser.find_element(By.ID, "recommend").click()
        wait.until(ec.visibility_of_element_located((By.ID, "reasoning")))
        expected = httpx.post(
            f"{url}/v1/recommend", json={"history": ["i1"], "k": 10, "exclude_history": True}
        ).json()
        chain = " ".join(expected["reasoning"].split()) or "(the model wrote an empty chain)"
        assert browser.find_element(By.ID, "reasoning-chain").text == chain
        cut = browser.find_element(By.ID, "reasoning-truncated").is_displayed()
        assert cut == expected["reasoning_truncated"]
        assert not browser.find_element(By.ID, "error").is_displayed()
