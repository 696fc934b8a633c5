// A vendor's training runs (an operator sees everyone's), newest first.

import { el, link } from "../dom.js";
import * as format from "../format.js";
import { pagedRows } from "../paging.js";

export const title = "Training runs";

export function runPill(value) {
  const label = format.enumLabel(value, "RUN_STATE_");
  return el("span", { class: `pill run-${label}`, text: label });
}

export function render(view) {
  const controller = new AbortController();
  const body = el("tbody", { id: "run-rows" });
  const problem = el("p", { class: "form-error", role: "alert" });
  const more = el("button", { type: "button", class: "more", text: "Older runs", hidden: true });
  view.append(
    el("div", { class: "page-head" },
      el("div", {}, el("h1", { text: "Training runs" }),
        el("p", { class: "lead", text: "Runs started with `mp train start`: their state, settings and latest metrics." }))),
    problem,
    el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Run", "State", "Round", "Hyperparameters", "Latest metrics", "Started"].map((name) =>
        el("th", { scope: "col", text: name })))),
      body)),
    more);

  const load = pagedRows({ body, more, problem, path: "/api/training/runs", field: "runs", row, columns: 6,
    empty: "No run yet: `mp train start` starts one.", what: "runs", signal: controller.signal });
  load(true);
  return () => controller.abort();
}

function row(run) {
  return el("tr", { dataset: { run: run.id } },
    el("td", {}, link(`/marketplace/runs/${encodeURIComponent(run.id)}`, el("span", { class: "mono", text: run.id })),
      run.project ? el("span", { class: "id", text: ` ${run.project}` }) : null),
    el("td", {}, runPill(run.state)),
    el("td", { text: run.roundNumber || "—" }),
    el("td", {}, chips(run.hyperparameters, (v) => JSON.stringify(v))),
    el("td", {}, chips(run.latestMetrics, (v) => Number(v).toPrecision(4))),
    el("td", { text: format.dateTime(run.startTime || run.createTime) }));
}

export function chips(values, show) {
  const entries = Object.entries(values || {});
  if (!entries.length) return el("span", { class: "muted", text: "—" });
  return el("ul", { class: "chips" }, entries.slice(0, 8).map(([key, value]) => el("li", { text: `${key} = ${show(value)}` })),
    entries.length > 8 ? el("li", { text: `+${entries.length - 8}` }) : null);
}
