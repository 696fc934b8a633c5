// The catalog: vendors and their models (deployments) with state, live score, signal count and last signal.
// Search, the state filter and the order are the server's (ListCatalog's query, state, order_by), so
// they hold over every vendor, not only those loaded; pages follow with next_page_token.

import * as api from "../api.js";
import { clear, el, link } from "../dom.js";
import * as format from "../format.js";

export const title = "Catalog";
const PAGE_SIZE = 50;

const STATES = [
  ["", "All states"], ["DEPLOYMENT_STATE_LIVE", "Live"], ["DEPLOYMENT_STATE_UNHEALTHY", "Unhealthy"],
  ["DEPLOYMENT_STATE_PENDING", "Pending"], ["DEPLOYMENT_STATE_STARTING", "Starting"],
  ["DEPLOYMENT_STATE_STOPPED", "Stopped"], ["DEPLOYMENT_STATE_FAILED", "Failed"],
];
const SORTS = [
  ["CATALOG_ORDER_SCORE", "Best live score"], ["CATALOG_ORDER_ACTIVITY", "Latest signal"],
  ["CATALOG_ORDER_NAME", "Name"], ["CATALOG_ORDER_UNSPECIFIED", "First listed"],
];
const TYPING_PAUSE_MS = 250;

export function render(view) {
  const controller = new AbortController();
  let entries = [];
  let nextPageToken = "";
  let loading = null; // the request under way; a newer search replaces it
  let typing = 0;

  const search = el("input", { type: "search", id: "catalog-search", placeholder: "Search vendors and models",
    "aria-label": "Search vendors and models", maxlength: 200,
    on: { input: () => { clearTimeout(typing); typing = setTimeout(reload, TYPING_PAUSE_MS); } } });
  const state = el("select", { id: "catalog-state", "aria-label": "Filter by state", on: { change: reload } },
    STATES.map(([value, label]) => el("option", { value, text: label })));
  const sort = el("select", { id: "catalog-sort", "aria-label": "Sort by", on: { change: reload } },
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
    loading?.abort();
    const mine = new AbortController();
    loading = mine;
    controller.signal.addEventListener("abort", () => mine.abort());
    more.disabled = true;
    problem.textContent = "";
    try {
      const page = await api.get("/api/catalog", {
        pageSize: PAGE_SIZE,
        pageToken: fresh ? "" : nextPageToken,
        query: search.value.trim(),
        state: state.value,
        orderBy: sort.value,
      }, mine.signal);
      entries = fresh ? page.entries || [] : entries.concat(page.entries || []);
      nextPageToken = page.nextPageToken || "";
      draw(fresh);
    } catch (error) {
      if (error.name !== "AbortError") problem.textContent = `The catalog could not be loaded: ${error.message}`;
    } finally {
      if (loading === mine) loading = null;
      more.disabled = false;
    }
  }

  function reload() { load(true); }

  function draw(fresh) {
    const drawn = fresh ? 0 : list.querySelectorAll(".vendor").length;
    if (fresh) clear(list);
    for (const entry of entries.slice(drawn)) list.append(vendorCard(entry, state.value));
    if (!entries.length) {
      list.append(el("div", { class: "empty" },
        el("p", { text: search.value.trim() || state.value ? "No vendor matches these filters." : "No vendor is listed yet." })));
    }
    summary.textContent = `${format.count(entries.length)} vendor${entries.length === 1 ? "" : "s"}`
      + (nextPageToken ? " shown · more below" : "");
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
    models.length ? modelTable(vendor.slug, models) : el("p", { class: "muted small none", text: "No model deployed yet." }));
}

function fact(name, value) {
  return el("div", {}, el("dt", { text: name }), el("dd", { text: value }));
}

function modelTable(slug, models) {
  return el("table", { class: "models" },
    el("colgroup", {}, ["model", "state", "score", "count", "last"].map((name) => el("col", { class: `col-${name}` }))),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col", text: "Model" }), el("th", { scope: "col", text: "State" }),
      el("th", { scope: "col", class: "num", text: "Live score" }), el("th", { scope: "col", class: "num", text: "Signals" }),
      el("th", { scope: "col", text: "Last signal" }))),
    el("tbody", {}, models.map((model) => el("tr", {},
      el("td", {}, link(`/marketplace/vendors/${encodeURIComponent(slug)}/models/${encodeURIComponent(model.deploymentId)}`,
        el("span", { class: "model-name", text: model.name || model.deploymentId })),
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

// The live score: rank correlation over the model's latest scored signals, with its hit rate and how many
// signals it rests on (CatalogModel.score); the round-based score only when no live one exists yet.
function scoreCell(model) {
  const live = model.score;
  if (live && live.rankCorrelation !== undefined) {
    const n = Number(live.scoredSignals || 0);
    return el("span", { title: "Spearman rank correlation of views and realised returns over the latest scored signals" },
      el("span", { class: live.rankCorrelation >= 0 ? "up" : "down", text: format.score(live.rankCorrelation) }),
      el("span", { class: "muted small", text: ` · hits ${percent(live.hitRate)} · ${format.count(n)} signal${n === 1 ? "" : "s"}` }));
  }
  if (live) return el("span", { class: "muted", text: `${format.count(live.scoredSignals)} scored` });
  if (model.liveScore === undefined) return el("span", { class: "muted", text: "not scored" });
  const rounds = model.scoredRounds || 0;
  return el("span", { title: "Mean score over resolved rounds" },
    el("span", { class: model.liveScore >= 0 ? "up" : "down", text: format.score(model.liveScore) }),
    el("span", { class: "muted small", text: ` · ${rounds} round${rounds === 1 ? "" : "s"}` }));
}

export function percent(value) {
  return value === undefined || value === null ? "—" : `${(Number(value) * 100).toFixed(1)}%`;
}
