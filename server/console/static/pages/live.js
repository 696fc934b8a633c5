// Live signals: the NDJSON subscription through the gateway, each row with its attribution badge.
//
// No gaps across reconnects: after the stream breaks (a network drop, a server restart, a subscriber
// that fell behind), the page subscribes again and, once the new subscription is open, reads the
// stored signals newest first back past the last one it had (ListSignals), merging both by id.
// Rows are kept sorted by id, at most MAX_ROWS of them.

import * as api from "../api.js";
import { clear, el } from "../dom.js";
import * as format from "../format.js";

export const title = "Live signals";
export const MAX_ROWS = 500;
const FIRST_PAGE = 100;
// Signals committed by concurrent transactions can be numbered out of their commit order: the
// catch-up reads this far back before the newest signal seen, so a late commit is not missed.
const CATCH_UP_MARGIN_MS = 10_000;
const RETRY_MS = [500, 1000, 2000, 4000, 8000];

const numeric = (id) => BigInt(id || 0);
const stamp = (value) => (value ? new Date(value).getTime() : 0);

export function render(view, { principal }) {
  let rows = []; // {signal, tr}, newest (highest id) first
  const seen = new Set();
  let pending = []; // received while paused
  let paused = false;
  let newest = null;
  let received = 0;
  let generation = 0;
  let controller = null;
  let active = true;
  const names = new Map(); // deployment id → model name, from the catalog
  const looked = new Set(); // vendors whose catalog entry was requested

  const symbol = el("input", { id: "live-symbol", type: "search", placeholder: "Symbol, e.g. AAPL",
    "aria-label": "Filter by symbol", maxlength: 32, autocomplete: "off" });
  const vendor = el("input", { id: "live-vendor", type: "search", placeholder: "Vendor slug",
    "aria-label": "Filter by vendor", maxlength: 64, autocomplete: "off" });
  const asked = new URLSearchParams(window.location.search);
  symbol.value = asked.get("symbol") || "";
  vendor.value = asked.get("vendor") || "";
  if (principal?.vendor) {
    vendor.value = principal.vendor.slug;
    vendor.disabled = true;
    vendor.title = "A vendor's token reads its own signals only";
  }
  const apply = el("button", { type: "submit", class: "ghost", text: "Apply" });
  const pause = el("button", { type: "button", id: "live-pause", class: "primary", text: "Pause", on: { click: togglePause } });
  const clearButton = el("button", { type: "button", class: "ghost", text: "Clear", on: { click: clearRows } });
  const dot = el("span", { class: "dot" });
  const statusText = el("span", { id: "live-status-text", text: "Connecting…" });
  const status = el("span", { class: "status", id: "live-status", role: "status" }, dot, statusText);
  const counter = el("span", { class: "muted small", id: "live-count" });
  const body = el("tbody", { id: "live-rows" });
  const empty = el("div", { class: "empty", id: "live-empty" }, el("p", { text: "Waiting for signals…" }));

  view.append(
    el("div", { class: "page-head" },
      el("div", {}, el("h1", { text: "Live signals" }),
        el("p", { class: "lead", text: "Every signal as it is stored, with the vendor, model and run it comes from." })),
      status),
    el("form", { class: "toolbar", on: { submit: (event) => { event.preventDefault(); restart(); } } },
      symbol, vendor, apply, el("span", { class: "spacer" }), counter, clearButton, pause),
    el("div", { class: "table-wrap" },
      el("table", { class: "signals" },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col", text: "Stored (UTC)" }), el("th", { scope: "col", text: "Symbol" }),
          el("th", { scope: "col", text: "Action" }), el("th", { scope: "col", class: "num", text: "Score" }),
          el("th", { scope: "col", class: "num", text: "Confidence" }), el("th", { scope: "col", class: "num", text: "Horizon" }),
          el("th", { scope: "col", class: "num", text: "Round" }), el("th", { scope: "col", text: "Source" }))),
        body),
      empty));

  function setStatus(kind, text) {
    status.dataset.state = kind;
    statusText.textContent = text;
  }

  function count() {
    counter.textContent = `${format.count(received)} received · ${format.count(rows.length)} shown (newest ${MAX_ROWS} kept)`;
    empty.hidden = rows.length > 0;
  }

  function accept(signal) {
    if (seen.has(signal.id)) return;
    const id = numeric(signal.id);
    if (rows.length >= MAX_ROWS && id < numeric(rows[rows.length - 1].signal.id)) return;
    seen.add(signal.id);
    received += 1;
    if (!newest || id > numeric(newest.id)) newest = signal;
    let index = 0;
    while (index < rows.length && numeric(rows[index].signal.id) > id) index += 1;
    const tr = row(signal);
    body.insertBefore(tr, rows[index]?.tr ?? null);
    rows.splice(index, 0, { signal, tr });
    while (rows.length > MAX_ROWS) {
      const dropped = rows.pop();
      dropped.tr.remove();
      seen.delete(dropped.signal.id);
    }
    count();
  }

  function take(signal) {
    if (!paused) { accept(signal); return; }
    pending.push(signal);
    if (pending.length > MAX_ROWS) pending.shift(); // only the newest MAX_ROWS could be shown anyway
    pause.textContent = `Resume (${format.count(pending.length)} new)`;
  }

  function togglePause() {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      const waiting = pending;
      pending = [];
      waiting.forEach(accept);
    }
  }

  function clearRows() {
    for (const { tr } of rows) tr.remove();
    rows = [];
    seen.clear();
    pending = [];
    received = 0;
    count();
  }

  function row(signal) {
    const by = signal.attribution || {};
    const actionName = format.action(signal.action);
    const tr = el("tr", { class: "fresh", dataset: { signal: signal.id } },
      el("td", { class: "mono", text: format.clock(signal.storeTime), title: format.dateTime(signal.storeTime) }),
      el("td", { class: "symbol", text: signal.symbol }),
      el("td", {}, el("span", { class: `pill action-${actionName}`, text: actionName })),
      el("td", { class: ["num", "mono", signal.score > 0 ? "up" : signal.score < 0 ? "down" : ""],
        text: format.score(signal.score) }),
      el("td", { class: "num mono", text: Number(signal.confidence || 0).toFixed(2) }),
      el("td", { class: "num", text: format.duration(signal.horizon) }),
      el("td", { class: "num", text: signal.roundNumber || "—" }),
      el("td", {}, badge(by)));
    tr.addEventListener("animationend", () => tr.classList.remove("fresh"), { once: true });
    return tr;
  }

  function badge(by) {
    lookUp(by.vendorSlug);
    const model = el("span", { class: "badge-model", dataset: { deployment: by.deploymentId || "" },
      text: names.get(by.deploymentId) || format.shortId(by.deploymentId) });
    return el("span", { class: ["badge", format.hue(by.vendorSlug)], title: `vendor ${by.vendorSlug} · deployment ${by.deploymentId} · run ${by.runId || "none"}` },
      el("span", { class: "badge-vendor", text: by.vendorDisplayName || by.vendorSlug || "unknown vendor" }),
      model,
      by.runId ? el("span", { class: "badge-run", text: `run ${format.shortId(by.runId)}` }) : null);
  }

  async function lookUp(slug) {
    if (!slug || looked.has(slug)) return;
    looked.add(slug);
    try {
      const entry = await api.get(`/api/catalog/${encodeURIComponent(slug)}`);
      for (const model of entry.models || []) if (model.name) names.set(model.deploymentId, model.name);
      for (const node of body.querySelectorAll(".badge-model")) {
        const name = names.get(node.dataset.deployment);
        if (name) node.textContent = name;
      }
    } catch {
      // Without catalog:read the badge keeps the deployment id.
    }
  }

  async function catchUp(query, signal) {
    const floor = newest ? stamp(newest.storeTime) - CATCH_UP_MARGIN_MS : null;
    const found = [];
    let pageToken = "";
    for (;;) {
      const page = await api.get("/api/signals", { ...query, pageSize: floor === null ? FIRST_PAGE : 500, pageToken }, signal);
      const signals = page.signals || [];
      found.push(...signals);
      pageToken = page.nextPageToken || "";
      if (floor === null || !pageToken || found.length >= MAX_ROWS) break;
      if (stamp(signals[signals.length - 1]?.storeTime) < floor) break;
    }
    found.reverse().forEach(take);
  }

  async function follow(mine) {
    let failures = 0;
    while (active && mine === generation) {
      controller = new AbortController();
      const { signal } = controller;
      const query = { symbol: symbol.value.trim(), vendor: vendor.disabled ? "" : vendor.value.trim() };
      const early = [];
      let caughtUp = false;
      setStatus("connecting", failures ? "Reconnecting…" : "Connecting…");
      try {
        await api.stream("/api/signals:subscribe", {
          query, signal,
          onOpen: () => {
            catchUp(query, signal).then(() => {
              caughtUp = true;
              early.splice(0).forEach(take);
              failures = 0;
              setStatus("live", "Live");
            }, () => controller.abort());
          },
          // Each line carries the signals handed out together (SubscribeSignalsResponse).
          onMessage: (item) => (item.signals || []).forEach((one) => (caughtUp ? take(one) : early.push(one))),
        });
      } catch (error) {
        if (!active || mine !== generation) return;
        if (error instanceof api.ApiError && [400, 401, 403].includes(error.status)) {
          setStatus("stopped", `Stopped: ${error.message}`);
          return;
        }
      }
      if (!active || mine !== generation) return;
      const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
      failures += 1;
      setStatus("reconnecting", `Disconnected; reconnecting in ${Math.ceil(wait / 1000)} s`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  function restart() {
    generation += 1;
    controller?.abort();
    clearRows();
    newest = null;
    follow(generation);
  }

  count();
  restart();
  return () => {
    active = false;
    controller?.abort();
  };
}
