// The console's shell: sign-in, navigation and the router that draws one page at a time.

import * as api from "./api.js";
import { clear, el } from "./dom.js";
import { enumLabel } from "./format.js";
import * as signin from "./pages/signin.js";

// Pages are loaded when first shown, so a first visit fetches the shell and the sign-in page only.
const pages = {
  admin: () => import("./pages/admin.js"),
  catalog: () => import("./pages/catalog.js"),
  deployments: () => import("./pages/deployments.js"),
  invite: () => import("./pages/invite.js"),
  docs: () => import("./pages/docs.js"),
  docsApi: () => import("./pages/docs-api.js"),
  docsCli: () => import("./pages/docs-cli.js"),
  live: () => import("./pages/live.js"),
  model: () => import("./pages/model.js"),
  round: () => import("./pages/round.js"),
  rounds: () => import("./pages/rounds.js"),
  run: () => import("./pages/run.js"),
  runs: () => import("./pages/runs.js"),
  tokens: () => import("./pages/tokens.js"),
};

const BASE = "/marketplace";
const ROUTES = [
  { pattern: /^\/?$/, page: pages.catalog, nav: "catalog" },
  { pattern: /^\/catalog\/?$/, page: pages.catalog, nav: "catalog" },
  { pattern: /^\/live\/?$/, page: pages.live, nav: "live" },
  { pattern: /^\/rounds\/?$/, page: pages.rounds, nav: "rounds" },
  { pattern: /^\/rounds\/(\d+)\/?$/, page: pages.round, nav: "rounds" },
  { pattern: /^\/deployments\/?$/, page: pages.deployments, nav: "deployments" },
  { pattern: /^\/admin\/?$/, page: pages.admin, nav: "admin" },
  // Open to anyone holding an invitation link: it needs no session.
  { pattern: /^\/invite\/?$/, page: pages.invite, nav: null, open: true },
  { pattern: /^\/tokens\/?$/, page: pages.tokens, nav: "tokens" },
  { pattern: /^\/runs\/?$/, page: pages.runs, nav: "runs" },
  { pattern: /^\/runs\/([A-Za-z0-9_-]{1,64})\/?$/, page: pages.run, nav: "runs" },
  // Docs are open before signing in: a newcomer reads how to get a token (try it then answers 401).
  { pattern: /^\/docs\/?$/, page: pages.docs, nav: "docs", open: true },
  { pattern: /^\/docs\/cli\/?$/, page: pages.docsCli, nav: "docs", open: true },
  { pattern: /^\/docs\/api\/?$/, page: pages.docsApi, nav: "docs", open: true },
  { pattern: /^\/vendors\/([a-z][a-z0-9-]{1,39})\/models\/([A-Za-z0-9_-]{1,64})\/?$/, page: pages.model, nav: "catalog" },
];

const view = document.getElementById("view");
const who = document.getElementById("who");
const nav = document.getElementById("nav");
let principal = null;
let leave = null; // the current page's cleanup (closes its streams)
let drawing = 0; // the latest draw; an older one still loading its page gives way

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  draw();
}

function route() {
  const rest = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) : "/";
  for (const { pattern, page, nav: section, open = false } of ROUTES) {
    const found = rest.match(pattern);
    if (found) return { page, section, params: found.slice(1), open };
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
  // A vendor's own tokens (operators manage every token on the Operator page).
  nav.querySelector("[data-section=tokens]").hidden = principal?.kind !== "PRINCIPAL_KIND_VENDOR"
    || !["tokens:read", "tokens:write"].some((scope) => principal.scopes.includes(scope));
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

async function draw() {
  const mine = ++drawing;
  leave?.();
  leave = null;
  clear(view);
  const found = route();
  for (const item of nav.querySelectorAll("a")) {
    item.classList.toggle("active", found?.section === item.dataset.section);
    if (found?.section === item.dataset.section) item.setAttribute("aria-current", "page");
    else item.removeAttribute("aria-current");
  }
  if (!found?.open && (!api.signedIn() || !principal)) {
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
  let page;
  try {
    page = await found.page();
  } catch {
    view.append(el("section", { class: "empty" }, el("h1", { text: "This page could not be loaded" }),
      el("p", { text: "The server did not answer; reload the page to try again." })));
    return;
  }
  if (mine !== drawing) return;
  document.title = `${page.title} · ML Marketplace`;
  // An open page (an invitation) may sign this browser in: onSession shows who, without a redraw.
  const onSession = (whoami) => { principal = whoami; drawIdentity(); };
  leave = page.render(view, { params: found.params, principal, navigate, onSession }) || null;
  if (!found.open) view.focus({ preventScroll: true });  // an open page focuses its own first field
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
