// Sign-in: the person pastes a token once; the server turns it into a cookie session.

import * as api from "../api.js";
import { el, link } from "../dom.js";

export const title = "Sign in";

export function render(view, { onSignedIn }) {
  document.title = "Sign in · ML Marketplace";
  const input = el("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", spellcheck: "false",
    required: true, placeholder: "mp_…", "aria-describedby": "token-help",
  });
  const message = el("p", { class: "form-error", role: "alert" });
  const button = el("button", { type: "submit", class: "primary", text: "Sign in" });
  const form = el("form", { class: "signin-form", on: { submit } },
    el("label", { for: "token", text: "API token" }),
    input,
    el("p", { id: "token-help", class: "muted small",
      text: "It is exchanged for a session of at most 8 hours, held in a cookie no script can read; the token itself is not kept. Sign out ends the session." }),
    message,
    button);

  async function submit(event) {
    event.preventDefault();
    message.textContent = "";
    button.disabled = true;
    const secret = input.value;
    input.value = "";
    try {
      await onSignedIn(await api.signIn(secret));
    } catch (error) {
      message.textContent = error.status === 401
        ? "That token is not valid (unknown, expired or revoked, or its vendor is suspended)."
        : error.status === 403
          ? `This token cannot sign in here: ${error.message}`
          : `Could not sign in: ${error.message}`;
      button.disabled = false;
      input.focus();
    }
  }

  view.append(el("section", { class: "signin" },
    el("h1", { text: "Sign in to the marketplace" }),
    el("p", { class: "lead", text: "Browse the catalog of vendors and their models, follow live signals with their attribution, and inspect dataset rounds." }),
    form,
    el("p", { class: "muted small" },
      "No token yet? An operator creates one with ",
      el("code", { text: "mp admin tokens create" }),
      ". New here? Read the ", link("/marketplace/docs", "quickstart"), ".")));
  input.focus();
}
