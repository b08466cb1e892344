"""A served model trained with statements listens: a preference naming a kind of product the
history never touched brings more items of that kind into the list (the page's Prefer box and
the API) than the same request without it."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from genrec.serving.app import create_app  # noqa: E402
from genrec.serving.settings import Settings  # noqa: E402

from .conftest import TITLES, live_server  # noqa: E402

PENS = ["i0", "i1"]  # Red pen, Blue pen


def envelopes(items: list[dict]) -> int:
    return sum("envelope" in item["title"].lower() for item in items)


def test_a_preference_brings_a_new_kind_of_item_into_the_list(steered_run) -> None:
    app = create_app(Settings(runs=[steered_run]))
    with live_server(app) as (url, _):
        plain = httpx.post(f"{url}/v1/recommend", json={"history": PENS, "k": 10}).json()
        said = {"history": PENS, "k": 10, "preferences": ["looking for an envelope"]}
        steered = httpx.post(f"{url}/v1/recommend", json=said).json()
    assert steered["ignored"] == []
    assert envelopes(steered["items"]) >= envelopes(plain["items"]) + 2, steered["items"]


def test_the_page_prefer_box_changes_the_list(steered_run) -> None:
    from .test_page import CHROMEDRIVER, CHROMIUM, By, WebDriverWait, chromium

    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no chromium/chromedriver on PATH (Debian: apt-get install chromium)")
    app = create_app(Settings(runs=[steered_run]))
    with live_server(app) as (url, _), chromium() as browser:
        wait = WebDriverWait(browser, 20)
        browser.get(url)
        wait.until(lambda b: f"{len(TITLES)} items" in b.find_element(By.ID, "info").text)
        search = browser.find_element(By.ID, "search")
        for query in ("red pen", "blue pen"):
            search.clear()
            search.send_keys(query)
            wait.until(
                lambda b, q=query: (
                    q.capitalize() in b.find_element(By.CSS_SELECTOR, "#search-results li").text
                )
            )
            browser.find_element(By.CSS_SELECTOR, "#search-results li").click()

        def shown() -> list[str]:  # read in one go: the list may be re-rendered meanwhile
            return browser.execute_script(
                "return [...document.querySelectorAll('#results li .title')]"
                ".map(e => e.textContent)"
            )

        browser.find_element(By.ID, "recommend").click()
        before = wait.until(lambda b: shown() or None)
        browser.find_element(By.ID, "prefer").send_keys("looking for an envelope")
        browser.find_element(By.ID, "recommend").click()
        after = wait.until(lambda b: (list_ := shown()) != before and list_ or None)
        count = [sum("envelope" in title.lower() for title in shown) for shown in (before, after)]
        assert count[1] >= count[0] + 2, (before, after)
        assert "does not read them" not in browser.find_element(By.ID, "notes").text
