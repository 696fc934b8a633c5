// One round: its window, symbols, files with size and sha256, and how to pull it; operators close and resolve it.

import * as api from "../api.js";
import { el, copyButton, link } from "../dom.js";
import * as format from "../format.js";
import { isOperator, roundPill } from "./rounds.js";

export const title = "Round";

export function render(view, { params, principal, navigate }) {
  const controller = new AbortController();
  const number = Number(params[0]);
  document.title = `Round ${number} · ML Marketplace`;
  const problem = el("p", { class: "form-error", role: "alert" });
  view.append(el("p", { class: "crumbs" }, link("/marketplace/rounds", "Rounds"), " / ", `Round ${number}`), problem);

  api.get(`/api/rounds/${number}`, {}, controller.signal).then(
    async (round) => {
      view.append(...detail(round));
      if (!isOperator(principal)) return;
      try {
        const admin = await import("./rounds_admin.js");
        view.append(admin.roundActions(round, { navigate }));
      } catch {
        problem.textContent = "The operator actions could not be loaded; reload the page.";
      }
    },
    (error) => {
      if (error.name !== "AbortError") problem.textContent = error.status === 404 ? `There is no round ${number}.` : error.message;
    });
  return () => controller.abort();
}

function detail(round) {
  const files = round.files || [];
  const command = `mp data pull --round ${round.number}`;
  return [
    el("div", { class: "page-head" },
      el("div", {},
        el("h1", {}, `Round ${round.number} `, roundPill(round.state),
          round.synthetic ? el("span", { class: "tag", text: "synthetic" }) : null),
        round.description ? el("p", { class: "lead", text: round.description }) : null)),
    el("dl", { class: "facts wide" },
      fact("Opens", format.dateTime(round.openTime)),
      fact("Closes", format.dateTime(round.closeTime)),
      fact("Resolved", format.dateTime(round.resolveTime)),
      fact("Data from", format.dateTime(round.dataStartTime)),
      fact("Data to", format.dateTime(round.dataEndTime))),
    el("section", { class: "panel" },
      el("h2", { text: "Pull it" }),
      el("div", { class: "command" }, el("code", { id: "pull-command", text: command }), copyButton(command))),
    el("section", { class: "panel" },
      el("h2", { text: `Files (${files.length})` }),
      el("div", { class: "table-wrap" },
        el("table", { class: "files" },
          el("thead", {}, el("tr", {},
            el("th", { scope: "col", text: "File" }), el("th", { scope: "col", text: "Format" }),
            el("th", { scope: "col", class: "num", text: "Rows" }), el("th", { scope: "col", class: "num", text: "Size" }),
            el("th", { scope: "col", text: "sha256" }), el("th", { scope: "col", text: "" }))),
          el("tbody", {}, files.map((file) => fileRow(round.number, file))))),
      files.map((file) => (file.columns || []).length
        ? el("details", { class: "columns" },
          el("summary", { text: `${file.name}: ${file.columns.length} columns` }),
          el("ul", { class: "chips" }, file.columns.map((column) => el("li", { text: column }))))
        : null)),
    el("section", { class: "panel" },
      el("h2", { text: `Symbols (${(round.symbols || []).length})` }),
      el("ul", { class: "chips" }, (round.symbols || []).map((symbol) => el("li", { text: symbol })))),
  ];
}

function fact(name, value) {
  return el("div", {}, el("dt", { text: name }), el("dd", { text: value }));
}

function fileRow(number, file) {
  const sha = file.digest?.sha256 || "";
  const download = el("button", { type: "button", class: "ghost", text: "Download" });
  download.addEventListener("click", async () => {
    download.disabled = true;
    try {
      const answer = await api.post("/api/datasets/signed-urls", { roundNumber: number, files: [file.name] });
      const signed = (answer.urls || [])[0];
      if (signed) el("a", { href: signed.url, download: "" }).click();
    } catch (error) {
      download.textContent = error.status === 403 ? "Not allowed" : "Failed";
    } finally {
      download.disabled = false;
    }
  });
  return el("tr", {},
    el("td", { class: "mono", text: file.name }),
    el("td", { text: file.format }),
    el("td", { class: "num", text: format.count(file.rowCount) }),
    el("td", { class: "num", text: format.bytes(file.digest?.sizeBytes) }),
    el("td", { class: "sha" }, el("code", { text: sha, title: sha }), sha ? copyButton(sha) : null),
    el("td", {}, download));
}
