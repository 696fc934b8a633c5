// Operator pages: vendors (list, create, invite — the link shown once —, suspend and resume after a
// confirmation) and API tokens (list, create with chosen scopes — the secret
// shown once — and revoke after a confirmation). Only for tokens with the `admin` scope.

import * as api from "../api.js";
import { clear, copyButton, el } from "../dom.js";
import * as format from "../format.js";

export const title = "Operator";

const SCOPES = ["catalog:read", "data:read", "training:read", "training:write", "deploy:read", "deploy:write",
  "signals:read", "tokens:read", "tokens:write", "auth:introspect", "admin"];
const VENDOR_SCOPES = ["catalog:read", "data:read", "training:write", "deploy:write", "signals:read"];

export function render(view) {
  const controller = new AbortController();
  const problem = el("p", { class: "form-error", role: "alert", id: "admin-problem" });
  const vendorRows = el("tbody", { id: "vendor-rows" });
  const tokenRows = el("tbody", { id: "token-rows" });
  const dialog = el("dialog", { class: "dialog", id: "admin-dialog", "aria-labelledby": "admin-dialog-title" });
  // A secret shown once leaves the page with its dialog.
  dialog.addEventListener("close", () => clear(dialog));
  const showRevoked = el("input", { type: "checkbox", id: "show-revoked", on: { change: loadTokens } });

  const slug = el("input", { id: "vendor-slug", required: true, pattern: "[a-z][a-z0-9\\-]{1,39}", placeholder: "acme",
    "aria-label": "Vendor slug", title: "2–40 lowercase letters, digits or '-', starting with a letter" });
  const displayName = el("input", { id: "vendor-name", required: true, maxlength: 200, placeholder: "Acme Quant",
    "aria-label": "Display name" });
  const vendorForm = el("form", { class: "toolbar", id: "vendor-form", on: { submit: createVendor } },
    slug, displayName, el("button", { type: "submit", class: "primary", text: "Create vendor" }),
    el("span", { class: "spacer" }),
    el("button", { type: "button", class: "ghost", id: "invite-vendor", text: "Invite a vendor…", on: { click: invite } }));

  const tokenVendor = el("input", { id: "token-vendor", placeholder: "vendor slug (empty: platform)",
    "aria-label": "Vendor of the token", maxlength: 64 });
  const tokenName = el("input", { id: "token-name", placeholder: "what it is for", "aria-label": "Token name",
    maxlength: 200 });
  const scopeBoxes = SCOPES.map((scope) => el("label", { class: "scope" },
    el("input", { type: "checkbox", value: scope, checked: VENDOR_SCOPES.includes(scope) }), scope));
  const tokenForm = el("form", { class: "panel token-form", id: "token-form", on: { submit: createToken } },
    el("div", { class: "row" }, tokenVendor, tokenName),
    el("fieldset", { class: "scopes" }, el("legend", { text: "Scopes" }), scopeBoxes),
    el("button", { type: "submit", class: "primary", text: "Create token" }));

  view.append(
    el("div", { class: "page-head" },
      el("div", {}, el("h1", { text: "Operator" }),
        el("p", { class: "lead", text: "Vendors and the API tokens of the marketplace." }))),
    problem,
    el("section", { class: "panel" }, el("h2", { text: "Vendors" }), vendorForm,
      el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Vendor", "Slug", "Id", "Listed", "Status", ""].map((name) =>
          el("th", { scope: "col", text: name })))),
        vendorRows))),
    el("section", { class: "panel" },
      el("h2", { text: "API tokens" }), tokenForm,
      el("label", { class: "inline small" }, showRevoked, " show revoked tokens"),
      el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Token", "Vendor", "Scopes", "Created", "Expires", ""].map((name) =>
          el("th", { scope: "col", text: name })))),
        tokenRows))),
    dialog);

  async function guarded(work) {
    problem.textContent = "";
    try {
      return await work();
    } catch (error) {
      if (error.name !== "AbortError") problem.textContent = error.message;
      return null;
    }
  }

  async function loadVendors() {
    const page = await guarded(() => api.get("/api/admin/vendors", { pageSize: 500 }, controller.signal));
    if (!page) return;
    clear(vendorRows);
    for (const vendor of page.vendors || []) vendorRows.append(vendorRow(vendor));
  }

  function vendorRow(vendor) {
    const suspended = Boolean(vendor.suspendTime);
    return el("tr", { dataset: { vendor: vendor.slug }, class: suspended ? "suspended" : null },
      el("td", { text: vendor.displayName }), el("td", { class: "mono", text: vendor.slug }),
      el("td", { class: "mono", text: vendor.id }), el("td", { text: format.dateTime(vendor.createTime) }),
      el("td", { text: suspended ? `suspended ${format.dateTime(vendor.suspendTime)}` : "active" }),
      el("td", {}, suspended
        ? el("button", { type: "button", class: "ghost", text: "Resume", on: { click: () => confirmResume(vendor) } })
        : el("button", { type: "button", class: "danger", text: "Suspend", on: { click: () => confirmSuspend(vendor) } })));
  }

  async function invite() {
    const made = await guarded(() => api.post("/api/admin/invitations", { requestId: api.requestId() }));
    if (!made) return;
    show("Invitation link",
      el("p", { text: `Shown once: copy it now and send it privately. It registers one vendor and works until ${format.dateTime(made.invitation.expireTime)}.` }),
      el("div", { class: "command" }, el("code", { id: "invite-link", text: made.url }), copyButton(made.url)),
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "primary", text: "Done", on: { click: hide } })));
  }

  function confirmSuspend(vendor) {
    show(`Suspend ${vendor.displayName}?`,
      el("p", { text: `Every token of ${vendor.slug} is refused at once — its API tokens, browser sessions, deployments' and runs' — and its models leave the catalog. Nothing is deleted; you can resume it.` }),
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "ghost", text: "Cancel", on: { click: hide } }),
        el("button", { type: "button", class: "danger", id: "confirm-suspend", text: "Suspend vendor",
          on: { click: () => vendorAction(vendor, "suspend") } })));
  }

  function confirmResume(vendor) {
    show(`Resume ${vendor.displayName}?`,
      el("p", { text: `The tokens of ${vendor.slug} that are neither revoked nor expired work again, and its models return to the catalog.` }),
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "ghost", text: "Cancel", on: { click: hide } }),
        el("button", { type: "button", class: "primary", id: "confirm-resume", text: "Resume vendor",
          on: { click: () => vendorAction(vendor, "resume") } })));
  }

  async function vendorAction(vendor, verb) {
    hide();
    if (await guarded(() => api.post(`/api/admin/vendors/${encodeURIComponent(vendor.slug)}:${verb}`, {}))) loadVendors();
  }

  async function loadTokens() {
    const page = await guarded(() => api.get("/api/admin/tokens",
      { pageSize: 500, includeRevoked: showRevoked.checked ? "true" : "" }, controller.signal));
    if (!page) return;
    clear(tokenRows);
    for (const token of page.tokens || []) tokenRows.append(tokenRow(token));
  }

  function tokenRow(token) {
    const revoked = Boolean(token.revokeTime);
    return el("tr", { dataset: { token: token.id }, class: revoked ? "revoked" : null },
      el("td", {}, el("span", { class: "model-name", text: token.displayName || "(unnamed)" }),
        el("span", { class: "id", text: `${token.id} · ${token.hint}` })),
      el("td", { class: "mono", text: token.vendorSlug || "platform" }),
      el("td", {}, el("ul", { class: "chips" }, (token.scopes || []).map((scope) => el("li", { text: scope })))),
      el("td", { text: format.dateTime(token.createTime) }),
      el("td", { text: revoked ? `revoked ${format.dateTime(token.revokeTime)}` : format.dateTime(token.expireTime) }),
      el("td", {}, revoked ? null : el("button", { type: "button", class: "danger", text: "Revoke",
        on: { click: () => confirmRevoke(token) } })));
  }

  async function createVendor(event) {
    event.preventDefault();
    const made = await guarded(() => api.post("/api/admin/vendors",
      { slug: slug.value.trim(), displayName: displayName.value.trim(), requestId: api.requestId() }));
    if (!made) return;
    slug.value = "";
    displayName.value = "";
    loadVendors();
  }

  async function createToken(event) {
    event.preventDefault();
    const scopes = scopeBoxes.map((box) => box.querySelector("input")).filter((box) => box.checked).map((box) => box.value);
    const made = await guarded(() => api.post("/api/admin/tokens", {
      vendor: tokenVendor.value.trim(), scopes, displayName: tokenName.value.trim(), requestId: api.requestId(),
    }));
    if (!made) return;
    show("Token created",
      el("p", { text: `Shown once: copy it now and hand it over safely. Scopes: ${made.token.scopes.join(", ")}.` }),
      el("div", { class: "command" }, el("code", { id: "new-token", text: made.secret }), copyButton(made.secret)),
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "primary", text: "Done", on: { click: hide } })));
    loadTokens();
  }

  function confirmRevoke(token) {
    show(`Revoke ${token.displayName || token.id}?`,
      el("p", { text: `Whoever holds ${token.hint} loses access at once. This cannot be undone.` }),
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "ghost", text: "Cancel", on: { click: hide } }),
        el("button", { type: "button", class: "danger", id: "confirm-revoke", text: "Revoke token",
          on: { click: async () => {
            hide();
            if (await guarded(() => api.post(`/api/admin/tokens/${encodeURIComponent(token.id)}:revoke`, {}))) loadTokens();
          } } })));
  }

  function hide() {
    dialog.close();
    clear(dialog);
  }

  function show(heading, ...content) {
    clear(dialog);
    dialog.append(el("h2", { id: "admin-dialog-title", text: heading }), ...content);
    dialog.showModal();
  }

  loadVendors();
  loadTokens();
  return () => {
    controller.abort();
    if (dialog.open) dialog.close();
  };
}
