// Just enough DOM to run the web page's app.js in node (no browser): elements by id from
// index.html, createElement, text, children, classes, attributes and click listeners, and a
// fetch the scenario answers. Usage: node fake_dom.js index.html app.js scenario.js: the
// scenario runs first (it sets `page.routes` and defines `async function run()`), then app.js,
// then run(), which drives the page and prints what it found.
"use strict";

const fs = require("fs");
const vm = require("vm");

class Element {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.listeners = {};
    this.attributes = {};
    this.dataset = {};
    this.hidden = false;
    this.disabled = false;
    this.value = "";
    this.checked = false;
    this.className = "";
    this._text = "";
    const self = this;
    this.classList = {
      contains: (name) => self.className.split(" ").includes(name),
      toggle(name, on) {
        const names = self.className.split(" ").filter((n) => n && n !== name);
        if (on) names.push(name);
        self.className = names.join(" ");
      },
    };
  }
  get textContent() {
    return this._text + this.children.map((child) => child.textContent).join("");
  }
  set textContent(text) {
    this._text = String(text);
    this.children = [];
  }
  append(...nodes) {
    this.children.push(...nodes);
  }
  replaceChildren(...nodes) {
    this._text = "";
    this.children = [...nodes];
  }
  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }
  getAttribute(name) {
    return name in this.attributes ? this.attributes[name] : null;
  }
  addEventListener(type, listener) {
    (this.listeners[type] = this.listeners[type] || []).push(listener);
  }
  click() {
    for (const listener of this.listeners.click || []) listener({ target: this });
  }
  querySelectorAll(tag) {
    const found = [];
    for (const child of this.children) {
      if (child.tagName === tag.toUpperCase()) found.push(child);
      found.push(...child.querySelectorAll(tag));
    }
    return found;
  }
}

const [html, appJs, scenario] = process.argv.slice(2).map((p) => fs.readFileSync(p, "utf8"));
const byId = {};
for (const match of html.matchAll(/<(\w+)[^>]*\sid="([^"]+)"([^>]*)>/g)) {
  const node = new Element(match[1]);
  node.hidden = /\shidden[\s>]/.test(match[0]);
  node.disabled = /\sdisabled[\s>]/.test(match[0]);
  node.checked = /\schecked[\s>]/.test(match[0]);
  const value = match[0].match(/\svalue="([^"]*)"/);
  if (value) node.value = value[1];
  byId[match[2]] = node;
}

const routes = []; // [prefix, handler(url, options) -> Promise<[status, body]>]
const requests = [];
async function fetch(url, options) {
  requests.push({ url, body: options && options.body ? JSON.parse(options.body) : null });
  const route = routes.find(([prefix]) => url.startsWith(prefix));
  if (!route) throw new Error(`no route for ${url}`);
  const [status, body] = await route[1](url, options);
  return { ok: status < 400, status, statusText: "", json: async () => body };
}

const context = vm.createContext({
  document: { getElementById: (id) => byId[id], createElement: (tag) => new Element(tag) },
  fetch,
  setTimeout,
  clearTimeout,
  console,
  encodeURIComponent,
});
const page = { byId, routes, requests, settle: () => new Promise((r) => setTimeout(r, 0)) };
context.page = page;
vm.runInContext(scenario, context, { filename: "scenario.js" });
vm.runInContext(appJs, context, { filename: "app.js" });
vm.runInContext("run()", context).catch((error) => {
  console.error(error.stack);
  process.exit(1);
});
