"""The web page's logic without a browser: app.js runs in node over a fake DOM
(tests/serving/fake_dom.js) with canned API answers. The browser test (test_page.py) checks
the real rendering where chromium is installed; this one runs wherever node is."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).parents[2] / "src" / "genrec" / "serving" / "static"
FAKE_DOM = Path(__file__).parent / "fake_dom.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH")

#: Canned answers and helpers every scenario starts with.
SETUP = r"""
const INFO = {model: "sasrec", dataset: "desk", n_items: 24, max_k: 24, modes: ["direct"],
              reads_preferences: false};
const FOUND = [{item_id: "i1", title: "Blue pen", score: 0.9},
               {item_id: "i5", title: "Blue stapler", score: 0.5}];
const ANSWER = {
  items: [{item_id: "i2", title: "Green pen", rank: 1, score: 1.5},
          {item_id: "i3", title: "Black pen", rank: 2, score: 0.25}],
  history: [{item_id: "i1", title: "Blue pen"}], ignored: ["preferences: not read"],
  avoided: [{text: "avoid notebooks", subject: "notebooks", n_items: 4,
             examples: [{item_id: "i8", title: "Red notebook"},
                        {item_id: "i9", title: "Blue notebook"}]}],
  mode: "direct", reasoning: null, reasoning_truncated: null,
};
let release; // holds /v1/recommend's answer until the scenario lets it go
page.routes.push(["/v1/info", async () => [200, INFO]]);
page.routes.push(["/v1/items", async () => [200, FOUND]]);
page.routes.push(["/v1/recommend", () => new Promise((resolve) => {
  release = () => resolve([200, ANSWER]);
})]);
// $, search and the rest are app.js's own (one global scope), looked up when called
const report = (found) => console.log(JSON.stringify(found));
const legendHidden = () => ($("score-legend") ? $("score-legend").hidden : "missing");
const texts = (id) => $(id).children.map((c) => c.textContent);
async function findItems(query) {
  $("search").value = query;
  await search();
  await page.settle();
}
"""


def run_page(scenario: str, tmp_path: Path) -> dict:
    """What ``scenario`` (the body of ``async function run()``; it ends with ``report({...})``)
    found, after SETUP, with the page's own index.html and app.js."""
    path = tmp_path / "scenario.js"
    path.write_text(f"{SETUP}\nasync function run() {{\n{scenario}\n}}\n")
    done = subprocess.run(
        [NODE, str(FAKE_DOM), str(STATIC / "index.html"), str(STATIC / "app.js"), str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_item_joins_the_history_once(tmp_path):
    found = run_page(
        """
        await findItems("blue");
        const [pen, stapler] = $("search-results").children;
        pen.click(); pen.click(); stapler.click(); pen.click();
        const marked = [pen, stapler].map((li) => li.className);
        $("recommend").click(); await page.settle();
        report({history: texts("history"), marked, asked: page.requests.at(-1).body.history});
        """,
        tmp_path,
    )
    assert found["history"] == ["Blue pen i1×", "Blue stapler i5×"]
    assert found["marked"] == ["added", "added"]
    assert found["asked"] == ["i1", "i5"]


def test_emptying_the_history_clears_the_answer(tmp_path):
    found = run_page(
        """
        await findItems("blue");
        $("search-results").children[0].click();
        $("recommend").click(); await page.settle(); release(); await page.settle();
        const shown = texts("results").length;
        $("history").children[0].children.at(-1).click();  // its × button
        const after = {results: texts("results"), avoided: texts("avoided"),
                       notes: texts("notes"), legend: legendHidden(),
                       disabled: $("recommend").disabled};
        // an answer still on its way when the history is emptied is not shown either
        $("search-results").children[0].click();
        $("recommend").click(); await page.settle();
        $("history").children[0].children.at(-1).click();
        release(); await page.settle();
        const marked = $("search-results").children[0].className;
        report({shown, after, late: texts("results"), marked});
        """,
        tmp_path,
    )
    assert found["shown"] == 2
    assert found["after"] == {
        "results": [],
        "avoided": [],
        "notes": [],
        "legend": True,
        "disabled": True,
    }
    assert found["late"] == [] and found["marked"] == ""


def test_the_answer_explains_avoid_and_scores_and_shows_work_in_progress(tmp_path):
    found = run_page(
        """
        await findItems("blue");
        $("search-results").children[0].click();
        $("recommend").click(); await page.settle();
        const during = {button: $("recommend").textContent, disabled: $("recommend").disabled,
                        busy: $("answer").getAttribute("aria-busy"),
                        spinner: $("recommend").className};
        ANSWER.avoided.push({text: "no unicorns", subject: "unicorns", n_items: 0, examples: []});
        release(); await page.settle();
        report({during, button: $("recommend").textContent, disabled: $("recommend").disabled,
                busy: $("answer").getAttribute("aria-busy"), avoided: texts("avoided"),
                legend: legendHidden(),
                scores: $("results").children.map((li) => li.children[0].children[1].textContent)});
        """,
        tmp_path,
    )
    assert found["during"] == {
        "button": "Recommending…",
        "disabled": True,
        "busy": "true",
        "spinner": "busy",
    }
    assert found["button"] == "Recommend" and found["disabled"] is False
    assert found["busy"] == "false"
    note, nothing = found["avoided"]
    assert nothing == "“no unicorns” excluded nothing: no item matched “unicorns”"
    assert note == (
        "“avoid notebooks” excluded 4 items matching “notebooks”, "
        "e.g. Red notebook (i8); Blue notebook (i9)"
    )
    assert "avoid “avoid" not in note
    assert found["legend"] is False  # shown with a list, and says what a score is:
    legend = (STATIC / "index.html").read_text().split('id="score-legend"')[1].split("</p>")[0]
    assert "Score" in legend and "not a probability" in legend
    assert found["scores"] == ["1.500", "0.250"]


def test_a_chain_shows_as_written_and_says_when_it_was_cut_off(tmp_path):
    found = run_page(
        """
        const shown = () => ({chain: $("reasoning-chain").textContent,
                              cut: !$("reasoning-truncated").hidden,
                              shown: !$("reasoning").hidden});
        Object.assign(ANSWER, {mode: "reasoning", reasoning: "\\n\\n", reasoning_truncated: true});
        await findItems("blue");
        $("search-results").children[0].click();
        $("recommend").click(); await page.settle(); release(); await page.settle();
        const blank = shown();
        Object.assign(ANSWER, {reasoning: " Likes pens.\\n", reasoning_truncated: false});
        $("recommend").click(); await page.settle(); release(); await page.settle();
        report({blank, written: shown()});
        """,
        tmp_path,
    )
    # blank space would show as nothing; the note says the budget ran out before the answer
    assert found["blank"] == {
        "chain": "(the model wrote an empty chain)",
        "cut": True,
        "shown": True,
    }
    assert found["written"] == {"chain": " Likes pens.\n", "cut": False, "shown": True}
    note = (STATIC / "index.html").read_text().split('id="reasoning-truncated"')[1].split("</p>")[0]
    assert "decode.chain_tokens" in note
