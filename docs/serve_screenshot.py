"""Takes docs/serve.png, the README's picture of the web page: `genrec serve RUN` must be
running on --url; headless Debian chromium builds a history by search and asks.

    genrec serve runs/decoder-only-office &   # then:
    python docs/serve_screenshot.py --url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "serve.png")
    parser.add_argument("--search", nargs="+", default=["swingline stapler", "laser printer"])
    parser.add_argument("--avoid", default="avoid tape")
    args = parser.parse_args()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1400,860"):
        options.add_argument(argument)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    with webdriver.Chrome(options=options, service=service) as browser:
        wait = WebDriverWait(browser, 30)
        browser.get(args.url)
        wait.until(ec.text_to_be_present_in_element((By.ID, "info"), "items"))
        search = browser.find_element(By.ID, "search")
        for query in args.search:
            search.clear()
            search.send_keys(query)
            css = f'#search-results[data-query="{query}"] li'
            first = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, css)))
            first.click()
        browser.find_element(By.ID, "prefer").send_keys("wireless")
        browser.find_element(By.ID, "avoid").send_keys(args.avoid)
        browser.find_element(By.ID, "recommend").click()
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#results li"))
        browser.save_screenshot(str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
