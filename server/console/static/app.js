// The console's shell: sign-in, navigation and the router that draws one page at a time.

import * as api from "./api.js";
import * as admin from "./pages/admin.js";
import { clear, el } from "./dom.js";
import { enumLabel } from "./format.js";
import * as catalog from "./pages/catalog.js";
import * as deployments from "./pages/deployments.js";
import * as live from "./pages/live.js";
import * as model from "./pages/model.js";
import * as round from "./pages/round.js";
import * as rounds from "./pages/rounds.js";
import * as run from "./pages/run.js";
import * as runs from "./pages/runs.js";
import * as signin from "./pages/signin.js";

const BASE = "/marketplace";
const ROUTES = [
  { pattern: /^\/?$/, page: catalog, nav: "catalog" },
  { pattern: /^\/catalog\/?$/, page: catalog, nav: "catalog" },
  { pattern: /^\/live\/?$/, page: live, nav: "live" },
  { pattern: /^\/rounds\/?$/, page: rounds, nav: "rounds" },
  { pattern: /^\/rounds\/(\d+)\/?$/, page: round, nav: "rounds" },
  { pattern: /^\/deployments\/?$/, page: deployments, nav: "deployments" },
  { pattern: /^\/admin\/?$/, page: admin, nav: "admin" },
  { pattern: /^\/runs\/?$/, page: runs, nav: "runs" },
  { pattern: /^\/runs\/([A-Za-z0-9_-]{1,64})\/?$/, page: run, nav: "runs" },
  { pattern: /^\/vendors\/([a-z][a-z0-9-]{1,39})\/models\/([A-Za-z0-9_-]{1,64})\/?$/, page: model, nav: "catalog" },
];

const view = document.getElementById("view");
const who = document.getElementById("who");
const nav = document.getElementById("nav");
let principal = null;
let leave = null; // the current page's cleanup (closes its streams)

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  draw();
}

function route() {
  const rest = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) : "/";
  for (const { pattern, page, nav: section } of ROUTES) {
    const found = rest.match(pattern);
    if (found) return { page, section, params: found.slice(1) };
  }
  return null;
}

function mayUse(...wanted) {
  const scopes = principal?.scopes || [];
  return ["admin", ...wanted].some((scope) => scopes.includes(scope));
}

function drawIdentity() {
  clear(who);
  nav.querySelector("[data-section=deployments]").hidden = !mayUse("deploy:read", "deploy:write");
  nav.querySelector("[data-section=runs]").hidden = !mayUse("training:read", "training:write");
  nav.querySelector("[data-section=admin]").hidden = !(principal?.scopes || []).includes("admin");
  if (!principal) return;
  const kind = enumLabel(principal.kind, "PRINCIPAL_KIND_");
  const name = principal.vendor?.displayName || (kind === "admin" ? "Operator" : "Platform service");
  who.append(
    el("span", { class: "who-name", text: name, title: (principal.scopes || []).join(" ") }),
    el("span", { class: "who-kind", text: kind }),
    el("button", { type: "button", class: "ghost", id: "sign-out", text: "Sign out", on: { click: signOut } }),
  );
}

async function signOut() {
  try {
    await api.signOut();
  } catch {
    // Already ended (expired or revoked): the page signs out all the same.
  }
  principal = null;
  drawIdentity();
  draw();
}

async function signedIn(whoami) {
  principal = whoami;
  drawIdentity();
  draw();
}

function draw() {
  leave?.();
  leave = null;
  clear(view);
  const found = route();
  for (const item of nav.querySelectorAll("a")) {
    item.classList.toggle("active", found?.section === item.dataset.section);
    if (found?.section === item.dataset.section) item.setAttribute("aria-current", "page");
    else item.removeAttribute("aria-current");
  }
  if (!api.signedIn() || !principal) {
    principal = null;
    drawIdentity();
    signin.render(view, { onSignedIn: signedIn });
    return;
  }
  if (!found) {
    view.append(el("section", { class: "empty" },
      el("h1", { text: "Page not found" }),
      el("p", { text: "There is no console page at this address." })));
    return;
  }
  document.title = `${found.page.title} · ML Marketplace`;
  leave = found.page.render(view, { params: found.params, principal, navigate }) || null;
  view.focus({ preventScroll: true });
}

document.addEventListener("click", (event) => {
  const anchor = event.target.closest?.("a[data-link]");
  if (!anchor || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  if (anchor.getAttribute("href") !== window.location.pathname + window.location.search) {
    navigate(anchor.getAttribute("href"));
  }
});
window.addEventListener("popstate", draw);
api.resume().then(
  (whoami) => { principal = whoami; drawIdentity(); draw(); },
  () => draw(),
);
