// The genrec web page: plain DOM, no framework and no build step. Item text always goes in
// through textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const chosen = []; // {item_id, title}, oldest first, each item once
let busy = false; // a recommendation is on its way
let answerSeq = 0; // which request the shown answer may come from

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function itemLine(item) {
  const line = element("span", item.title || "(no title)", "title");
  const id = element("span", ` ${item.item_id}`, "id");
  return [line, id];
}

function lines(id) {
  return $(id).value.split("\n").map((s) => s.trim()).filter(Boolean);
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function call(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail)
      ? body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ")
      : body.detail || response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function inHistory(itemId) {
  return chosen.some((item) => item.item_id === itemId);
}

function addToHistory(item) {
  if (inHistory(item.item_id)) return; // once is enough: the model reads each item once anyway
  chosen.push({ item_id: item.item_id, title: item.title });
  renderHistory();
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren();
  chosen.forEach((item, position) => {
    const li = element("li");
    li.append(...itemLine(item));
    const remove = element("button", "×", "remove");
    remove.type = "button";
    remove.title = "remove from the history";
    remove.addEventListener("click", () => {
      chosen.splice(position, 1);
      renderHistory();
    });
    li.append(remove);
    list.append(li);
  });
  for (const li of $("search-results").children) {
    const added = inHistory(li.dataset.itemId);
    li.classList.toggle("added", added);
    li.title = added ? "already in the history" : "add to the history";
  }
  if (chosen.length === 0) clearAnswer(); // the list answered a history that is gone
  $("recommend").disabled = chosen.length === 0 || busy;
}

let searchTimer;
let searchSeq = 0;
async function search() {
  const query = $("search").value.trim();
  const seq = ++searchSeq;
  const list = $("search-results");
  if (!query) {
    list.replaceChildren();
    return;
  }
  try {
    const found = await call(`/v1/items?q=${encodeURIComponent(query)}&limit=10`);
    if (seq !== searchSeq) return; // a newer query is on its way
    list.dataset.query = query; // which query the list answers (tests wait on it)
    list.replaceChildren(
      ...found.map((item) => {
        const li = element("li");
        li.append(...itemLine(item));
        li.dataset.itemId = item.item_id;
        li.addEventListener("click", () => addToHistory(item));
        return li;
      }),
    );
    renderHistory(); // marks the results already in the history
    showError("");
  } catch (error) {
    showError(error.message);
  }
}

function avoidedNote(avoided) {
  if (avoided.n_items === 0) {
    const said = `“${avoided.text}” excluded nothing`;
    return element("li", `${said}: no item matched “${avoided.subject}”`);
  }
  const excluded = avoided.n_items === 1 ? "1 item" : `${avoided.n_items} items`;
  let note = `“${avoided.text}” excluded ${excluded} matching “${avoided.subject}”`;
  if (avoided.examples.length) {
    const titles = avoided.examples.map((e) => `${e.title || "(no title)"} (${e.item_id})`);
    note += `, e.g. ${titles.join("; ")}`;
  }
  return element("li", note);
}

function clearAnswer() {
  answerSeq += 1; // an answer still on its way is for a request that no longer stands
  for (const id of ["results", "notes", "avoided"]) $(id).replaceChildren();
  $("reasoning").hidden = true;
  $("score-legend").hidden = true;
}

function renderAnswer(answer) {
  $("results").replaceChildren(
    ...answer.items.map((row) => {
      const li = element("li");
      const line = element("div");
      const text = element("span");
      text.append(...itemLine(row));
      line.append(text, element("span", row.score.toFixed(3), "score"));
      li.append(line);
      return li;
    }),
  );
  $("score-legend").hidden = answer.items.length === 0;
  $("notes").replaceChildren(...answer.ignored.map((note) => element("li", note)));
  $("avoided").replaceChildren(...answer.avoided.map(avoidedNote));
  // the chain as written; one of blank space would show as nothing
  const chain = answer.reasoning || "";
  $("reasoning-chain").textContent = chain.trim() ? chain : "(the model wrote an empty chain)";
  $("reasoning-truncated").hidden = !answer.reasoning_truncated;
  $("reasoning").hidden = answer.reasoning === null;
}

function setBusy(on) {
  busy = on;
  const button = $("recommend");
  button.textContent = on ? "Recommending…" : "Recommend";
  button.classList.toggle("busy", on);
  button.disabled = on || chosen.length === 0;
  $("answer").setAttribute("aria-busy", String(on));
}

async function recommend() {
  const seq = ++answerSeq;
  setBusy(true);
  try {
    const answer = await call("/v1/recommend", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        history: chosen.map((item) => item.item_id),
        k: Number($("k").value),
        preferences: lines("prefer"),
        avoid: lines("avoid"),
        exclude_history: $("exclude-history").checked,
        mode: $("mode").value,
      }),
    });
    if (seq !== answerSeq) return; // the history was emptied meanwhile
    renderAnswer(answer);
    showError("");
  } catch (error) {
    if (seq === answerSeq) showError(error.message);
  } finally {
    setBusy(false);
  }
}

async function start() {
  try {
    const info = await call("/v1/info");
    $("info").textContent =
      `${info.model} on ${info.dataset} (${info.n_items} items)` +
      (info.reads_preferences ? "; reads preferences" : "; preferences are not read by this model");
    $("k").max = info.max_k;
    $("mode").replaceChildren(...info.modes.map((mode) => element("option", mode)));
  } catch (error) {
    showError(error.message);
  }
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, 200);
  });
  $("recommend").addEventListener("click", recommend);
  renderHistory();
}

start();
