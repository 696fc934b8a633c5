// The invitation page: whoever opens an operator's invitation link registers a vendor here, picks its
// slug and display name, sees its first token once and is signed in (a cookie session, as signing in
// does). The code travels in the URL fragment, which browsers never send to a server or in a Referer;
// the page takes it out of the address bar at once, so it stays in no history entry either.

import * as api from "../api.js";
import { copyButton, el } from "../dom.js";

export const title = "Register";

export function render(view, { onSession, navigate }) {
  document.title = "Register · ML Marketplace";
  const code = decodeURIComponent(window.location.hash.slice(1)).trim();
  history.replaceState(null, "", window.location.pathname);
  // One id for this page's registration: a retry after a lost answer returns the same vendor and token.
  const requestId = api.requestId();

  const section = el("section", { class: "signin invite" });
  view.append(section);
  if (!code) {
    section.append(
      el("h1", { text: "This invitation link is incomplete" }),
      el("p", { class: "lead", text: "Open the whole link you were sent, or ask the operator for a new one." }));
    return null;
  }

  const slug = el("input", { id: "invite-slug", name: "slug", required: true, autocomplete: "off",
    spellcheck: "false", pattern: "[a-z][a-z0-9\\-]{1,39}", maxlength: 40, placeholder: "acme",
    "aria-describedby": "invite-slug-help" });
  const displayName = el("input", { id: "invite-name", name: "displayName", required: true, maxlength: 200,
    placeholder: "Acme Quant", "aria-describedby": "invite-name-help" });
  const message = el("p", { class: "form-error", role: "alert", id: "invite-problem" });
  const button = el("button", { type: "submit", class: "primary", text: "Register" });
  const form = el("form", { class: "signin-form", id: "invite-form", on: { submit } },
    el("label", { for: "invite-slug", text: "Vendor handle (slug)" }), slug,
    el("p", { id: "invite-slug-help", class: "muted small",
      text: "2–40 lowercase letters, digits or '-', starting with a letter. It names you in the CLI and in links." }),
    el("label", { for: "invite-name", text: "Display name" }), displayName,
    el("p", { id: "invite-name-help", class: "muted small", text: "Shown next to every signal your models send." }),
    message, button);
  section.append(
    el("h1", { text: "Register as a vendor" }),
    el("p", { class: "lead", text: "You were invited to the marketplace. Pick how your vendor is named; you get its first API token and are signed in." }),
    form);
  slug.focus();

  async function submit(event) {
    event.preventDefault();
    message.textContent = "";
    button.disabled = true;
    let registered;
    try {
      registered = await api.post("/api/invitations:accept",
        { code, slug: slug.value.trim(), displayName: displayName.value.trim(), requestId });
    } catch (error) {
      message.textContent = error.message;
      // A taken slug or a bad value can be fixed here; a used, withdrawn or expired link cannot.
      button.disabled = error.status === 404 || (error.status === 400 && /link is not valid/.test(error.message));
      (error.status === 409 ? slug : displayName).focus();
      return;
    }
    let whoami = null;
    try {
      whoami = await api.signIn(registered.secret);
      onSession(whoami);
    } catch {
      // Registered all the same: the token below signs in on the sign-in page.
    }
    showToken(registered, whoami);
  }

  function showToken(registered, whoami) {
    section.replaceChildren(
      el("h1", { text: `Welcome, ${registered.vendor.displayName}` }),
      el("p", { class: "lead", text: whoami
        ? "Your vendor is registered and you are signed in. This is its first API token, for the mp CLI:"
        : "Your vendor is registered. This is its first API token; sign in with it:" }),
      el("p", { class: "form-error", text: "It is shown only now: copy it and keep it somewhere safe." }),
      el("div", { class: "command" }, el("code", { id: "invite-token", text: registered.secret }),
        copyButton(registered.secret)),
      el("p", { class: "muted small" }, "Then: ", el("code", { text: "mp login --api-url " + window.location.origin }),
        " and paste the token when asked."),
      el("p", {}, el("button", { type: "button", class: "primary", id: "invite-continue",
        text: whoami ? "Continue to the console" : "Go to sign-in",
        on: { click: () => navigate("/marketplace", { replace: true }) } })));
  }
  return null;
}
