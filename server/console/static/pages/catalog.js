// The catalog: vendors and their models (deployments) with state, live score, signal count and last signal.
// Pages come from the server with next_page_token; search, the state filter and sorting apply to the
// vendors loaded so far, and "live" also asks the server for vendors with a live model only.

import * as api from "../api.js";
import { clear, el } from "../dom.js";
import * as format from "../format.js";

export const title = "Catalog";
const PAGE_SIZE = 50;

const STATES = [
  ["", "All states"], ["DEPLOYMENT_STATE_LIVE", "Live"], ["DEPLOYMENT_STATE_UNHEALTHY", "Unhealthy"],
  ["DEPLOYMENT_STATE_PENDING", "Pending"], ["DEPLOYMENT_STATE_STARTING", "Starting"],
  ["DEPLOYMENT_STATE_STOPPED", "Stopped"], ["DEPLOYMENT_STATE_FAILED", "Failed"],
];
const SORTS = [
  ["score", "Best live score"], ["activity", "Latest signal"], ["signals", "Most signals"],
  ["name", "Name"], ["joined", "First listed"],
];

const time = (value) => (value ? new Date(value).getTime() : -Infinity);
const bestScore = (entry) => Math.max(-Infinity, ...entry.models.filter((m) => m.liveScore !== undefined).map((m) => m.liveScore));
const ORDER = {
  score: (a, b) => bestScore(b) - bestScore(a),
  activity: (a, b) => time(b.lastSignalTime) - time(a.lastSignalTime),
  signals: (a, b) => Number(b.signalCount || 0) - Number(a.signalCount || 0),
  name: (a, b) => a.vendor.displayName.localeCompare(b.vendor.displayName),
  joined: () => 0,
};

export function render(view) {
  const controller = new AbortController();
  let entries = [];
  let nextPageToken = "";
  let loading = false;

  const search = el("input", { type: "search", id: "catalog-search", placeholder: "Search vendors and models",
    "aria-label": "Search vendors and models", on: { input: draw } });
  const state = el("select", { id: "catalog-state", "aria-label": "Filter by state", on: { change: reload } },
    STATES.map(([value, label]) => el("option", { value, text: label })));
  const sort = el("select", { id: "catalog-sort", "aria-label": "Sort by", on: { change: draw } },
    SORTS.map(([value, label]) => el("option", { value, text: label })));
  const refresh = el("button", { type: "button", class: "ghost", text: "Refresh", on: { click: reload } });
  const summary = el("p", { class: "muted", id: "catalog-summary", "aria-live": "polite" });
  const list = el("div", { class: "vendor-list", id: "catalog-list" });
  const more = el("button", { type: "button", class: "more", id: "catalog-more", text: "Load more vendors",
    hidden: true, on: { click: () => load(false) } });
  const problem = el("p", { class: "form-error", role: "alert" });

  view.append(
    el("div", { class: "page-head" },
      el("div", {}, el("h1", { text: "Catalog" }),
        el("p", { class: "lead", text: "Vendors on the marketplace, their deployed models and how they score live." })),
      refresh),
    el("div", { class: "toolbar" }, search, state, el("label", { class: "inline" }, "Sort ", sort)),
    problem, summary, list, more);

  async function load(fresh) {
    if (loading) return;
    loading = true;
    more.disabled = true;
    problem.textContent = "";
    try {
      const page = await api.get("/api/catalog", {
        pageSize: PAGE_SIZE,
        pageToken: fresh ? "" : nextPageToken,
        liveOnly: state.value === "DEPLOYMENT_STATE_LIVE" ? "true" : "",
      }, controller.signal);
      entries = fresh ? page.entries || [] : entries.concat(page.entries || []);
      nextPageToken = page.nextPageToken || "";
      draw();
    } catch (error) {
      if (error.name !== "AbortError") problem.textContent = `The catalog could not be loaded: ${error.message}`;
    } finally {
      loading = false;
      more.disabled = false;
    }
  }

  function reload() { load(true); }

  function matches(entry, words, wanted) {
    const models = entry.models || [];
    if (wanted && !models.some((m) => m.state === wanted)) return false;
    if (!words) return true;
    const haystack = [entry.vendor.displayName, entry.vendor.slug, ...models.map((m) => m.name)].join(" ").toLowerCase();
    return words.every((word) => haystack.includes(word));
  }

  function draw() {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = entries.filter((entry) => matches(entry, words.length ? words : null, state.value));
    shown.sort(ORDER[sort.value]);
    clear(list);
    if (!shown.length) {
      list.append(el("div", { class: "empty" },
        el("p", { text: entries.length ? "No vendor matches these filters." : "No vendor is listed yet." })));
    }
    for (const entry of shown) list.append(vendorCard(entry, state.value));
    summary.textContent = `${format.count(shown.length)} of ${format.count(entries.length)} loaded vendors`
      + (nextPageToken ? " · more on the server" : "");
    more.hidden = !nextPageToken;
  }

  reload();
  return () => controller.abort();
}

function vendorCard(entry, wanted) {
  const { vendor } = entry;
  const models = (entry.models || []).filter((m) => !wanted || m.state === wanted);
  const rounds = entry.roundsEntered || [];
  return el("article", { class: "vendor", dataset: { vendor: vendor.slug } },
    el("header", { class: "vendor-head" },
      el("div", { class: "vendor-title" },
        el("span", { class: ["avatar", format.hue(vendor.slug)], "aria-hidden": "true",
          text: [...vendor.displayName.trim()][0]?.toUpperCase() || "?" }),
        el("h2", { class: "vendor-name", text: vendor.displayName }),
        el("span", { class: "slug", text: `@${vendor.slug}` })),
      el("dl", { class: "facts" },
        fact("Signals", format.count(entry.signalCount)),
        fact("Last signal", format.ago(entry.lastSignalTime)),
        fact("Rounds", rounds.length ? rounds.join(", ") : "—"))),
    models.length ? modelTable(models) : el("p", { class: "muted small none", text: "No model deployed yet." }));
}

function fact(name, value) {
  return el("div", {}, el("dt", { text: name }), el("dd", { text: value }));
}

function modelTable(models) {
  return el("table", { class: "models" },
    el("colgroup", {}, ["model", "state", "score", "count", "last"].map((name) => el("col", { class: `col-${name}` }))),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col", text: "Model" }), el("th", { scope: "col", text: "State" }),
      el("th", { scope: "col", class: "num", text: "Live score" }), el("th", { scope: "col", class: "num", text: "Signals" }),
      el("th", { scope: "col", text: "Last signal" }))),
    el("tbody", {}, models.map((model) => el("tr", {},
      el("td", {}, el("span", { class: "model-name", text: model.name || model.deploymentId }),
        el("span", { class: "id", text: model.runId ? `run ${format.shortId(model.runId)}` : format.shortId(model.deploymentId) })),
      el("td", {}, statePill(model.state)),
      el("td", { class: "num" }, scoreCell(model)),
      el("td", { class: "num", text: format.count(model.signalCount) }),
      el("td", { text: format.ago(model.lastSignalTime), title: format.dateTime(model.lastSignalTime) })))));
}

export function statePill(value) {
  const label = format.deploymentState(value);
  return el("span", { class: `pill state-${label.replace(/\s+/g, "-")}`, text: label });
}

function scoreCell(model) {
  if (model.liveScore === undefined) return el("span", { class: "muted", text: "not scored" });
  const rounds = model.scoredRounds || 0;
  return el("span", {},
    el("span", { class: model.liveScore >= 0 ? "up" : "down", text: format.score(model.liveScore) }),
    el("span", { class: "muted small", text: ` · ${rounds} round${rounds === 1 ? "" : "s"}` }));
}
