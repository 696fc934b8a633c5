// Dataset rounds, newest first, paged with next_page_token; operators also get the publish form.

import { el, link } from "../dom.js";
import * as format from "../format.js";
import { pagedRows } from "../paging.js";

export const title = "Rounds";

export function render(view, { principal, navigate }) {
  const controller = new AbortController();
  const body = el("tbody", { id: "rounds-rows" });
  const problem = el("p", { class: "form-error", role: "alert" });
  const more = el("button", { type: "button", class: "more", text: "Older rounds", hidden: true });

  view.append(
    el("div", { class: "page-head" },
      el("div", {}, el("h1", { text: "Dataset rounds" }),
        el("p", { class: "lead", text: "Numbered, time-boxed releases of feature tables that models train on." }))),
    problem,
    el("div", { class: "table-wrap" },
      el("table", { class: "rounds" },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col", class: "num", text: "Round" }), el("th", { scope: "col", text: "State" }),
          el("th", { scope: "col", text: "Opens" }), el("th", { scope: "col", text: "Closes" }),
          el("th", { scope: "col", class: "num", text: "Files" }), el("th", { scope: "col", class: "num", text: "Size" }),
          el("th", { scope: "col", class: "num", text: "Symbols" }))),
        body)),
    more);
  if (isOperator(principal)) {
    const slot = el("div", { id: "publish-slot" });
    view.querySelector(".page-head").after(slot);
    import("./rounds_admin.js").then((admin) => slot.append(admin.publishPanel({ navigate })),
      () => { problem.textContent = "The publish form could not be loaded; reload the page."; });
  }

  const load = pagedRows({ body, more, problem, path: "/api/rounds", field: "rounds", row: roundRow, columns: 7,
    empty: "No round is published yet.", what: "rounds", signal: controller.signal });
  load(true);
  return () => controller.abort();
}

function roundRow(round) {
  const files = round.files || [];
  const size = files.reduce((total, file) => total + Number(file.digest?.sizeBytes || 0), 0);
  return el("tr", {},
    el("td", { class: "num" }, link(`/marketplace/rounds/${round.number}`, `#${round.number}`)),
    el("td", {}, roundPill(round.state), round.synthetic ? el("span", { class: "tag", text: "synthetic" }) : null),
    el("td", { text: format.dateTime(round.openTime) }),
    el("td", { text: format.dateTime(round.closeTime) }),
    el("td", { class: "num", text: files.length }),
    el("td", { class: "num", text: format.bytes(size) }),
    el("td", { class: "num", text: (round.symbols || []).length }));
}

export function isOperator(principal) {
  return (principal?.scopes || []).includes("admin");
}

export function roundPill(value) {
  const label = format.roundState(value);
  return el("span", { class: `pill round-${label}`, text: label });
}
