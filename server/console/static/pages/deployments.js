// A vendor's deployments (an operator sees everyone's): state and health, heartbeat, counts, links;
// stop, start, rotate the token (the new one is shown once) and delete after a confirmation.

import * as api from "../api.js";
import { clear, copyButton, el } from "../dom.js";
import * as format from "../format.js";
import { pagedRows } from "../paging.js";
import { statePill } from "./catalog.js";

export const title = "Deployments";

const STOPPABLE = new Set(["DEPLOYMENT_STATE_PENDING", "DEPLOYMENT_STATE_STARTING", "DEPLOYMENT_STATE_LIVE",
  "DEPLOYMENT_STATE_UNHEALTHY", "DEPLOYMENT_STATE_FAILED"]);
const STARTABLE = new Set(["DEPLOYMENT_STATE_STOPPED", "DEPLOYMENT_STATE_FAILED"]);

export function render(view) {
  const controller = new AbortController();
  const body = el("tbody", { id: "deployment-rows" });
  const problem = el("p", { class: "form-error", role: "alert", id: "deployments-problem" });
  const more = el("button", { type: "button", class: "more", text: "More deployments", hidden: true });
  const dialog = el("dialog", { class: "dialog", id: "deployment-dialog", "aria-labelledby": "dialog-title" });
  // A secret shown once leaves the page with its dialog.
  dialog.addEventListener("close", () => clear(dialog));

  view.append(
    el("div", { class: "page-head" },
      el("div", {}, el("h1", { text: "Deployments" }),
        el("p", { class: "lead", text: "Your models serving signals: their health, counts and tokens." })),
      el("button", { type: "button", class: "ghost", text: "Refresh", on: { click: () => load(true) } })),
    problem,
    el("div", { class: "table-wrap" },
      el("table", { class: "deployments" },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col", text: "Deployment" }), el("th", { scope: "col", text: "State" }),
          el("th", { scope: "col", text: "Heartbeat" }), el("th", { scope: "col", class: "num", text: "Signals" }),
          el("th", { scope: "col", text: "Last signal" }), el("th", { scope: "col", text: "Actions" }))),
        body)),
    more, dialog);

  const load = pagedRows({ body, more, problem, path: "/api/deployments", field: "deployments", row, columns: 6,
    empty: "No deployment yet: `mp deploy` in a model's project starts one.", what: "deployments",
    signal: controller.signal, pageSize: 100 });

  function row(deployment) {
    const tr = el("tr", { dataset: { deployment: deployment.id } });
    draw(tr, deployment);
    return tr;
  }

  function draw(tr, deployment) {
    clear(tr);
    const endpoint = deployment.links?.endpointUrl;
    tr.append(
      el("td", {},
        el("span", { class: "model-name", text: deployment.name || deployment.id }),
        el("span", { class: "id", text: `${deployment.id} · ${deployment.provider || "—"}` }),
        endpoint ? el("span", { class: "id", text: endpoint }) : null,
        deployment.message ? el("span", { class: "muted small", text: deployment.message }) : null),
      el("td", {}, statePill(deployment.state)),
      el("td", { text: format.ago(deployment.lastHeartbeatTime), title: format.dateTime(deployment.lastHeartbeatTime) }),
      el("td", { class: "num", text: format.count(deployment.signalCount) }),
      el("td", { text: format.ago(deployment.lastSignalTime), title: format.dateTime(deployment.lastSignalTime) }),
      el("td", { class: "actions" },
        STOPPABLE.has(deployment.state) ? action("Stop", () => transition(tr, deployment, "DEPLOYMENT_STATE_STOPPED")) : null,
        STARTABLE.has(deployment.state) ? action("Start", () => transition(tr, deployment, "DEPLOYMENT_STATE_STARTING")) : null,
        action("Rotate token", () => rotate(tr, deployment)),
        action("Delete", () => confirmDelete(tr, deployment), "danger")));
  }

  function action(label, handler, kind = "ghost") {
    const button = el("button", { type: "button", class: kind, text: label });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try { await handler(); } finally { button.disabled = false; }
    });
    return button;
  }

  async function change(tr, deployment, method, path, body) {
    problem.textContent = "";
    try {
      return await api.call(method, path, { body });
    } catch (error) {
      problem.textContent = `${deployment.name || deployment.id}: ${error.message}`;
      return null;
    }
  }

  async function transition(tr, deployment, state) {
    const changed = await change(tr, deployment, "POST", `/api/deployments/${encodeURIComponent(deployment.id)}:transition`,
      { state, message: "from the web console" });
    if (changed) draw(tr, changed);
  }

  async function rotate(tr, deployment) {
    const answer = await change(tr, deployment, "POST",
      `/api/deployments/${encodeURIComponent(deployment.id)}:rotate-token`, {});
    if (!answer) return;
    draw(tr, answer.deployment);
    show(`New token for ${deployment.name || deployment.id}`,
      el("p", { text: "Shown once: copy it now. The old token no longer works; give this one to the deployment." }),
      el("div", { class: "command" }, el("code", { id: "rotated-token", text: answer.token }), copyButton(answer.token)),
      el("div", { class: "dialog-actions" }, el("button", { type: "button", class: "primary", text: "Done",
        on: { click: hide } })));
  }

  function confirmDelete(tr, deployment) {
    const name = deployment.name || deployment.id;
    show(`Delete ${name}?`,
      el("p", { text: "Its token is revoked at once and it takes no more signals. The signals it stored stay." }),
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "ghost", text: "Cancel", on: { click: hide } }),
        el("button", { type: "button", class: "danger", id: "confirm-delete", text: "Delete deployment",
          on: { click: async () => {
            hide();
            const deleted = await change(tr, deployment, "DELETE", `/api/deployments/${encodeURIComponent(deployment.id)}`);
            if (deleted) tr.remove();
          } } })));
  }

  function hide() {
    dialog.close();
    clear(dialog);
  }

  function show(heading, ...content) {
    clear(dialog);
    dialog.append(el("h2", { id: "dialog-title", text: heading }), ...content);
    dialog.showModal();
  }

  load(true);
  return () => {
    controller.abort();
    if (dialog.open) dialog.close();
  };
}
