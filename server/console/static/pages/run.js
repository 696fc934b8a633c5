// One training run: its settings, a chart per metric and its log, followed live (WatchTrainingRun)
// until the run ends. A broken stream resumes after the last event it had (after_sequence).

import * as api from "../api.js";
import { lineChart } from "../chart.js";
import { clear, el, link } from "../dom.js";
import * as format from "../format.js";
import { chips, runPill } from "./runs.js";

export const title = "Training run";
const MAX_LOG_LINES = 2000;
const MAX_CHARTS = 8;
const RETRY_MS = [500, 1000, 2000, 4000, 8000];

export function render(view, { params }) {
  const runId = decodeURIComponent(params[0]);
  let active = true;
  let controller = null;
  let lastSequence = 0;
  const series = new Map(); // metric key → [{x, y}]
  let drawPending = false;

  const problem = el("p", { class: "form-error", role: "alert" });
  const head = el("div", { class: "page-head" }, el("h1", { text: `Run ${runId}` }));
  const facts = el("dl", { class: "facts wide", id: "run-facts" });
  const charts = el("div", { class: "charts", id: "run-charts" }, el("p", { class: "muted", text: "No metric yet." }));
  const log = el("pre", { class: "log", id: "run-log", tabindex: "0", "aria-label": "Run log" });
  const status = el("span", { class: "status", id: "run-status", role: "status" }, el("span", { class: "dot" }),
    el("span", { text: "Connecting…" }));
  view.append(
    el("p", { class: "crumbs" }, link("/marketplace/runs", "Training runs"), " / ", runId),
    problem, head, facts,
    el("section", { class: "panel" }, el("h2", { text: "Metrics" }), charts),
    el("section", { class: "panel" }, el("div", { class: "panel-head" }, el("h2", { text: "Log" }), status), log));

  function setStatus(state, text) {
    status.dataset.state = state;
    status.lastChild.textContent = text;
  }

  async function loadRun() {
    try {
      const run = await api.get(`/api/training/runs/${encodeURIComponent(runId)}`);
      head.replaceChildren(el("h1", {}, `Run ${run.id} `, runPill(run.state)));
      clear(facts).append(
        fact("Round", run.roundNumber || "—"), fact("Provider", run.provider || "—"),
        fact("Started", format.dateTime(run.startTime)), fact("Ended", format.dateTime(run.endTime)),
        fact("Project", run.project || "—"),
        el("div", { class: "wide-fact" }, el("dt", { text: "Hyperparameters" }),
          el("dd", {}, chips(run.hyperparameters, (v) => JSON.stringify(v)))));
      return run;
    } catch (error) {
      problem.textContent = error.status === 404 ? `There is no run ${runId}.` : error.message;
      return null;
    }
  }

  function take(event) {
    lastSequence = Math.max(lastSequence, Number(event.sequence || 0));
    if (event.metric) {
      const points = series.get(event.metric.key) || [];
      points.push({ x: Number(event.metric.step || points.length), y: Number(event.metric.value) });
      series.set(event.metric.key, points);
      scheduleCharts();
    } else if (event.log) {
      const line = el("span", { class: event.log.stream === "stderr" ? "stderr" : null,
        text: `${event.log.text}\n` });
      const following = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      log.append(line);
      while (log.childNodes.length > MAX_LOG_LINES) log.firstChild.remove();
      if (following) log.scrollTop = log.scrollHeight;
    } else if (event.stateChange) {
      log.append(el("span", { class: "event", text:
        `— ${format.enumLabel(event.stateChange.toState, "RUN_STATE_")}${event.stateChange.message ? `: ${event.stateChange.message}` : ""}\n` }));
      loadRun();
    }
  }

  function scheduleCharts() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      clear(charts);
      for (const [key, points] of [...series.entries()].slice(0, MAX_CHARTS)) {
        const sorted = [...points].sort((a, b) => a.x - b.x);
        charts.append(el("figure", { class: "metric", dataset: { metric: key } },
          el("figcaption", {}, el("span", { class: "mono", text: key }),
            el("span", { class: "muted", text: ` ${Number(sorted[sorted.length - 1].y).toPrecision(4)}` })),
          lineChart(sorted, { title: `${key} by step` })));
      }
    });
  }

  async function follow() {
    let failures = 0;
    while (active) {
      controller = new AbortController();
      setStatus("connecting", failures ? "Reconnecting…" : "Connecting…");
      try {
        await api.stream(`/api/training/runs/${encodeURIComponent(runId)}:watch`, {
          query: { afterSequence: lastSequence || "" }, signal: controller.signal,
          onOpen: () => { failures = 0; setStatus("live", "Following"); },
          onMessage: take,
        });
        if (active) setStatus("stopped", "The run has ended");
        return;
      } catch (error) {
        if (!active) return;
        if (error instanceof api.ApiError && [400, 401, 403, 404].includes(error.status)) {
          setStatus("stopped", `Stopped: ${error.message}`);
          return;
        }
      }
      const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
      failures += 1;
      setStatus("reconnecting", `Disconnected; reconnecting in ${Math.ceil(wait / 1000)} s`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  loadRun().then((run) => { if (run && active) follow(); });
  return () => {
    active = false;
    controller?.abort();
  };
}

function fact(name, value) {
  return el("div", {}, el("dt", { text: name }), el("dd", { text: value }));
}
