// A vendor's own API tokens: list them (hint, scopes, created and expiry, session or not), create one with
// scopes the signed-in token has (the secret shown once) and revoke one after a confirmation. A token made
// here lives at most until the session ends, unless the person confirms with their own token.

import * as api from "../api.js";
import { clear, copyButton, el } from "../dom.js";
import * as format from "../format.js";
import { pagedRows } from "../paging.js";

export const title = "Tokens";

const HOUR = 3600;
const DAY = 24 * HOUR;
const LIFETIMES = [["1 hour", HOUR], ["7 days", 7 * DAY], ["30 days", 30 * DAY], ["90 days", 90 * DAY],
  ["365 days", 365 * DAY]];

/** The scopes this token may give: its own, and the `x:read` each `x:write` implies. */
export function grantable(scopes) {
  const all = new Set(scopes.filter((scope) => scope !== "admin"));
  for (const scope of scopes) if (scope.endsWith(":write")) all.add(scope.replace(/:write$/, ":read"));
  return [...all].sort();
}

export function render(view, { principal }) {
  const controller = new AbortController();
  const body = el("tbody", { id: "token-rows" });
  const problem = el("p", { class: "form-error", role: "alert", id: "tokens-problem" });
  const more = el("button", { type: "button", class: "more", text: "More tokens", hidden: true });
  const showRevoked = el("input", { type: "checkbox", id: "show-revoked", on: { change: () => load(true) } });
  const dialog = el("dialog", { class: "dialog", id: "tokens-dialog", "aria-labelledby": "tokens-dialog-title" });
  // A secret shown once leaves the page with its dialog.
  dialog.addEventListener("close", () => clear(dialog));
  const mayWrite = (principal.scopes || []).includes("tokens:write");
  const sessionEnds = principal.expireTime ? Date.parse(principal.expireTime) : Date.now() + 365 * DAY * 1000;
  let signedInWith = ""; // the token this session was made from: revoking it signs this page out

  view.append(
    el("div", { class: "page-head" },
      el("div", {}, el("h1", { text: "Tokens" }),
        el("p", { class: "lead", text: "Your API tokens and browser sessions. Secrets are shown once, when made." })),
      el("div", { class: "head-actions" },
        el("button", { type: "button", class: "ghost", text: "Refresh", on: { click: () => load(true) } }),
        mayWrite ? el("button", { type: "button", class: "primary", id: "new-token", text: "New token",
          on: { click: openCreate } }) : null)),
    problem,
    el("label", { class: "inline small" }, showRevoked, " show revoked tokens"),
    el("div", { class: "table-wrap" },
      el("table", { class: "tokens" },
        el("thead", {}, el("tr", {}, ["Token", "Scopes", "Created", "Expires", "Kind", "Actions"].map((name) =>
          el("th", { scope: "col", text: name })))),
        body)),
    more, dialog);

  const load = pagedRows({ body, more, problem, path: "/api/tokens", field: "tokens", row, columns: 6,
    empty: "No token.", what: "tokens", signal: controller.signal, pageSize: 100,
    query: () => ({ includeRevoked: showRevoked.checked ? "true" : "" }) });

  function row(token) {
    const revoked = Boolean(token.revokeTime);
    const current = token.id === principal.tokenId;
    if (current) signedInWith = token.parentTokenId || "";
    const kind = token.parentTokenId
      ? el("span", { class: "tag", title: `signed in with ${token.parentTokenId}`, text: "session" })
      : el("span", { class: "muted", text: "API token" });
    return el("tr", { dataset: { token: token.id }, class: revoked ? "revoked" : null },
      el("td", {}, el("span", { class: "model-name", text: token.displayName || "(unnamed)" }),
        el("span", { class: "id", text: `${token.id} · ${token.hint}` })),
      el("td", {}, el("ul", { class: "chips" }, (token.scopes || []).map((scope) => el("li", { text: scope })))),
      el("td", { text: format.dateTime(token.createTime) }),
      el("td", { text: revoked ? `revoked ${format.dateTime(token.revokeTime)}`
        : (token.expireTime ? format.dateTime(token.expireTime) : "never") }),
      el("td", {}, kind, current ? el("span", { class: "tag", text: "this session" }) : null),
      el("td", { class: "actions" }, revoked || current || !mayWrite ? null : el("button", { type: "button",
        class: "danger", text: "Revoke", "aria-label": `Revoke ${token.displayName || token.id}`,
        on: { click: () => confirmRevoke(token) } })));
  }

  function openCreate() {
    const name = el("input", { id: "token-name", maxlength: 200, placeholder: "what it is for, e.g. ci" });
    const boxes = grantable(principal.scopes || []).map((scope) =>
      el("input", { type: "checkbox", value: scope, id: `scope-${scope.replace(":", "-")}` }));
    // What the session has left, less a margin for the request's way to the server.
    const left = Math.floor((sessionEnds - Date.now()) / 1000) - 30;
    const lifetime = el("select", { id: "token-ttl" },
      el("option", { value: left, text: `Until this session ends (${format.dateTime(principal.expireTime)})`,
        selected: true }),
      LIFETIMES.map(([label, seconds]) => el("option", { value: seconds, text: label })));
    const secret = el("input", { type: "password", id: "confirm-token", autocomplete: "off", maxlength: 256,
      placeholder: "mpat_…" });
    const confirmRow = el("div", { class: "field", hidden: true },
      el("label", { for: "confirm-token", text: "Your API token, to confirm a lifetime past this session" }), secret,
      el("p", { class: "muted small", text: "Used for this one request and never kept." }));
    const showConfirm = () => { confirmRow.hidden = Number(lifetime.value) <= left; };
    lifetime.addEventListener("change", showConfirm);
    showConfirm();
    const formProblem = el("p", { class: "form-error", role: "alert", id: "token-form-problem" });
    const form = el("form", { class: "dialog-form", id: "token-form", on: { submit: create } },
      el("div", { class: "field" }, el("label", { for: "token-name", text: "Name" }), name),
      el("fieldset", { class: "scopes" }, el("legend", { text: "Scopes (only those your token has)" }),
        boxes.map((box) => el("label", { class: "scope", for: box.id }, box, box.value))),
      el("div", { class: "field" }, el("label", { for: "token-ttl", text: "Lifetime" }), lifetime),
      el("p", { class: "muted small", text: `This session ends ${format.dateTime(principal.expireTime)}; a token made `
        + "with it cannot outlive it. For longer, confirm with your token, or use `mp tokens create`." }),
      confirmRow, formProblem,
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "ghost", text: "Cancel", on: { click: hide } }),
        el("button", { type: "submit", class: "primary", id: "create-token", text: "Create token" })));
    show("New token", form);

    async function create(event) {
      event.preventDefault();
      formProblem.textContent = "";
      const scopes = boxes.filter((box) => box.checked).map((box) => box.value);
      if (!scopes.length) { formProblem.textContent = "Choose at least one scope."; return; }
      const wanted = Number(lifetime.value);
      const confirmWith = confirmRow.hidden ? "" : secret.value.trim();
      if (!confirmRow.hidden && !confirmWith) { formProblem.textContent = "Paste your token to confirm."; return; }
      const ttl = confirmWith ? wanted : Math.min(wanted, left);
      try {
        const made = await api.call("POST", "/api/tokens", { token: confirmWith || undefined, body: {
          scopes, displayName: name.value.trim(), ttl: `${ttl}s`, requestId: api.requestId() } });
        secret.value = "";
        showSecret(made);
      } catch (error) {
        formProblem.textContent = error.message;
      }
    }
  }

  function showSecret(made) {
    show("Token created",
      el("p", { class: "warning", role: "note", text: "Copy it now: this is the only time it is shown. Anyone "
        + "holding it acts as your vendor with these scopes, so keep it out of code and chat." }),
      el("div", { class: "command" }, el("code", { id: "new-token-secret", text: made.secret }), copyButton(made.secret)),
      el("p", { class: "muted small", text: `Scopes: ${made.token.scopes.join(", ")}; expires `
        + `${format.dateTime(made.token.expireTime)}.` }),
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "primary", text: "Done", on: { click: hide } })));
    load(true);
  }

  function confirmRevoke(token) {
    const mine = token.id === signedInWith;
    show(`Revoke ${token.displayName || token.id}?`,
      el("p", { text: `Whoever holds ${token.hint} loses access at once, with any browser session signed in `
        + "with it. This cannot be undone." }),
      mine ? el("p", { class: "warning", text: "You signed in with this token: revoking it signs you out." }) : null,
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "ghost", text: "Cancel", on: { click: hide } }),
        el("button", { type: "button", class: "danger", id: "confirm-revoke", text: "Revoke token",
          on: { click: async () => {
            hide();
            problem.textContent = "";
            try {
              await api.post(`/api/tokens/${encodeURIComponent(token.id)}:revoke`, {});
              if (mine) window.location.assign("/marketplace");
              else load(true);
            } catch (error) {
              problem.textContent = `${token.displayName || token.id}: ${error.message}`;
            }
          } } })));
  }

  function hide() {
    dialog.close();
    clear(dialog);
  }

  function show(heading, ...content) {
    clear(dialog);
    dialog.append(el("h2", { id: "tokens-dialog-title", text: heading }), ...content);
    dialog.showModal();
  }

  load(true);
  return () => {
    controller.abort();
    if (dialog.open) dialog.close();
  };
}
