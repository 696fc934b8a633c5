// One model (a deployment) on the marketplace: who made it, its run, its live score, its score per round,
// its signals.

import * as api from "../api.js";
import { barChart } from "../chart.js";
import { el, link } from "../dom.js";
import * as format from "../format.js";
import { percent, statePill } from "./catalog.js";

export const title = "Model";

export function render(view, { params }) {
  const controller = new AbortController();
  const [slug, deploymentId] = params;
  const problem = el("p", { class: "form-error", role: "alert" });
  view.append(el("p", { class: "crumbs" }, link("/marketplace", "Catalog"), " / ", slug), problem);

  api.get(`/api/catalog/${encodeURIComponent(slug)}`, {}, controller.signal).then((entry) => {
    const model = (entry.models || []).find((m) => m.deploymentId === deploymentId);
    if (!model) {
      problem.textContent = `${entry.vendor.displayName} has no model ${deploymentId}.`;
      return;
    }
    document.title = `${model.name || model.deploymentId} · ML Marketplace`;
    view.append(...page(entry.vendor, model));
    if (model.runId) loadRun(model.runId);
    loadSignals(model);
  }, (error) => {
    if (error.name !== "AbortError") problem.textContent = error.status === 404 ? `There is no vendor ${slug}.` : error.message;
  });

  function page(vendor, model) {
    const scores = model.roundScores || [];
    const live = model.score;
    return [
      el("div", { class: "page-head" },
        el("div", {},
          el("h1", {}, model.name || model.deploymentId, " ", statePill(model.state)),
          el("span", { class: ["badge", format.hue(vendor.slug)], id: "model-badge" },
            el("span", { class: "badge-vendor", text: vendor.displayName }),
            el("span", { class: "badge-model", text: model.name || format.shortId(model.deploymentId) }),
            model.runId ? el("span", { class: "badge-run", text: `run ${format.shortId(model.runId)}` }) : null))),
      el("dl", { class: "facts wide" },
        fact("Live score", live ? format.score(live.rankCorrelation) : "not scored"),
        fact("Hit rate", live ? percent(live.hitRate) : "—"),
        fact("Scored signals", live ? `${format.count(live.scoredSignals)} of the latest ${format.count(live.window)}` : "none yet"),
        fact("Round score", model.liveScore === undefined ? "—" : format.score(model.liveScore)),
        fact("Scored rounds", format.count(model.scoredRounds)),
        fact("Signals", format.count(model.signalCount)),
        fact("Last signal", format.ago(model.lastSignalTime)),
        fact("Deployment", model.deploymentId)),
      el("section", { class: "panel", id: "model-live-score" },
        el("h2", { text: "Live score" }),
        el("p", { class: "muted", text: live
          ? `Over its latest ${format.count(live.scoredSignals)} scored signals (up to ${format.dateTime(live.latestSignalTime)}; ` +
            `updated ${format.ago(live.updateTime)}): Spearman rank correlation ${format.score(live.rankCorrelation)}, ` +
            `hit rate ${percent(live.hitRate)}.`
          : "No signal of this model has been scored yet." }),
        el("p", { class: "muted small", text: "A signal made after bar B (the newest of its symbol when it was stored; t = B's time) " +
          "with horizon h is scored at its symbol's first bar at or after t + h: r = close(that bar) / close(B) − 1. The rank " +
          "correlation is Spearman's between the signals' views (score, or buy +1 / sell −1 / hold 0) and r; a hit is a view " +
          "with the sign of r (0 is a miss)." })),
      el("section", { class: "panel", id: "model-scores" },
        el("h2", { text: "Score per round" }),
        scores.length
          ? barChart(scores.map((s) => ({ label: `#${s.roundNumber}`, value: s.score })),
            { title: `Score of ${model.name || model.deploymentId} per resolved round` })
          : el("p", { class: "muted", text: "No resolved round has scored this model yet." })),
      el("section", { class: "panel", id: "model-run" }, el("h2", { text: "Training run" }),
        el("p", { class: "muted", text: model.runId ? "Loading…" : "This deployment names no training run." })),
      el("section", { class: "panel", id: "model-signals" },
        el("h2", {}, "Latest signals ", link(`/marketplace/live?vendor=${encodeURIComponent(vendor.slug)}`, "follow live")),
        el("p", { class: "muted", text: "Loading…" })),
    ];
  }

  async function loadRun(runId) {
    const panel = view.querySelector("#model-run");
    try {
      const run = await api.get(`/api/training/runs/${encodeURIComponent(runId)}`, {}, controller.signal);
      panel.replaceChildren(el("h2", { text: "Training run" }),
        el("dl", { class: "facts" },
          fact("Run", run.id), fact("State", format.enumLabel(run.state, "RUN_STATE_")),
          fact("Round", run.roundNumber || "—"), fact("Finished", format.dateTime(run.endTime))),
        keyValues("Hyperparameters", run.hyperparameters, (v) => JSON.stringify(v)),
        keyValues("Latest metrics", run.latestMetrics, (v) => Number(v).toPrecision(4)));
    } catch (error) {
      if (error.name === "AbortError") return;
      panel.replaceChildren(el("h2", { text: "Training run" }), el("p", { class: "muted",
        text: [403, 404].includes(error.status) ? `Run ${runId}: its details are for its vendor.` : error.message }));
    }
  }

  async function loadSignals(model) {
    const panel = view.querySelector("#model-signals");
    const heading = panel.querySelector("h2");
    try {
      const page = await api.get("/api/signals", { deploymentId: model.deploymentId, pageSize: 20 }, controller.signal);
      const signals = page.signals || [];
      panel.replaceChildren(heading, signals.length
        ? el("table", { class: "signals" },
          el("thead", {}, el("tr", {}, ["Stored (UTC)", "Symbol", "Action", "Score", "Round"].map((name) =>
            el("th", { scope: "col", text: name })))),
          el("tbody", {}, signals.map((s) => el("tr", {},
            el("td", { class: "mono", text: format.clock(s.storeTime) }),
            el("td", { class: "symbol", text: s.symbol }),
            el("td", {}, el("span", { class: `pill action-${format.action(s.action)}`, text: format.action(s.action) })),
            el("td", { class: ["mono", s.score > 0 ? "up" : s.score < 0 ? "down" : ""], text: format.score(s.score) }),
            el("td", { text: s.roundNumber || "—" })))))
        : el("p", { class: "muted", text: "No signal yet." }));
    } catch (error) {
      if (error.name === "AbortError") return;
      panel.replaceChildren(heading, el("p", { class: "muted",
        text: error.status === 403 ? "Reading signals needs the signals:read scope." : error.message }));
    }
  }

  return () => controller.abort();
}

function fact(name, value) {
  return el("div", {}, el("dt", { text: name }), el("dd", { text: value }));
}

function keyValues(heading, values, show) {
  const entries = Object.entries(values || {});
  if (!entries.length) return el("p", { class: "muted small", text: `${heading}: none` });
  return el("details", { class: "columns", open: true },
    el("summary", { text: `${heading} (${entries.length})` }),
    el("ul", { class: "chips" }, entries.map(([key, value]) => el("li", { text: `${key} = ${show(value)}` }))));
}
