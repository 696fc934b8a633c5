// Docs: the Quickstart (the README's "Quick start", from docs/quickstart.json, which `make docs` writes), and
// the pieces the other docs pages share: their tabs, and text with `code` spans.

import * as api from "../api.js";
import { el, link } from "../dom.js";

export const title = "Quickstart";

const TABS = [
  { href: "/marketplace/docs", label: "Quickstart" },
  { href: "/marketplace/docs/cli", label: "CLI reference" },
  { href: "/marketplace/docs/api", label: "API reference" },
];

/** The docs pages' heading and tabs; `current` is this page's href. */
export function docsHead(heading, lead, current) {
  return [
    el("nav", { class: "docs-tabs", "aria-label": "Docs" }, TABS.map(({ href, label }) => {
      const tab = link(href, label);
      if (href === current) tab.setAttribute("aria-current", "page");
      return tab;
    })),
    el("div", { class: "page-head" }, el("div", {}, el("h1", { text: heading }), el("p", { class: "lead", text: lead }))),
  ];
}

/** Text whose `backticked` parts become <code>, and **bold** parts <strong>: as nodes, never as HTML. */
export function richText(text) {
  return String(text).split(/(`[^`]+`|\*\*[^*]+\*\*)/).filter(Boolean).map((part) => {
    if (part.startsWith("`")) return el("code", { text: part.slice(1, -1) });
    if (part.startsWith("**")) return el("strong", { text: part.slice(2, -2) });
    return part;
  });
}

/** A static docs file of the console (written by `make docs`), fetched once per visit. */
const loaded = {};
export function docsData(name) {
  loaded[name] ??= api.get(`/marketplace/assets/docs/${name}`).catch((error) => {
    delete loaded[name];
    throw error;
  });
  return loaded[name];
}

export function render(view) {
  const body = el("div", { class: "doc-text", id: "quickstart" }, el("p", { class: "muted", text: "Loading…" }));
  const problem = el("p", { class: "form-error", role: "alert" });
  view.append(
    ...docsHead("Quickstart", "From a fresh machine to live signals with your name on them.", "/marketplace/docs"),
    problem, body);
  docsData("quickstart.json").then((quickstart) => {
    body.replaceChildren(...quickstart.blocks.map(block), el("p", { class: "muted small", text: `From ${quickstart.source}.` }));
  }, (error) => { body.replaceChildren(); problem.textContent = `The quickstart could not be loaded: ${error.message}`; });
}

function block(item) {
  if (item.kind === "code") return el("pre", { class: "command-block", tabindex: "0" }, el("code", { text: item.text }));
  if (item.kind === "list") return el("ul", {}, item.items.map((text) => el("li", {}, richText(text))));
  return el("p", {}, richText(item.text));
}
