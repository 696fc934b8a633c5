// The CLI reference: every `mp` command with its usage, help and options, from docs/cli.json, which
// `make docs` writes from the click commands themselves (cli/reference.py); filtered as you type.

import { el } from "../dom.js";
import { docsData, docsHead } from "./docs.js";

export const title = "CLI reference";

export function render(view) {
  const problem = el("p", { class: "form-error", role: "alert" });
  const list = el("div", { class: "doc-list", id: "cli-commands" }, el("p", { class: "muted", text: "Loading…" }));
  const filter = el("input", { type: "search", id: "cli-filter", placeholder: "Filter: pull, --json, deploy…",
    "aria-label": "Filter commands" });
  const index = el("ul", { class: "doc-index", id: "cli-index", "aria-label": "Commands" });
  view.append(
    ...docsHead("CLI reference", "Every mp command, as its --help shows it.", "/marketplace/docs/cli"),
    el("div", { class: "toolbar" }, filter), problem,
    el("div", { class: "doc-layout" }, el("nav", { class: "doc-side", "aria-label": "Command index" }, index), list));

  docsData("cli.json").then(({ commands }) => {
    const sections = commands.map((command) => ({ command, node: commandSection(command), words: searchable(command) }));
    list.replaceChildren(...sections.map(({ node }) => node));
    index.replaceChildren(...sections.map(({ command, node }) => el("li", {},
      el("a", { href: `#${node.id}`, text: command.path, on: { click: (event) => jump(event, node) } }))));
    filter.addEventListener("input", () => {
      const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      for (const [i, { words: text, node }] of sections.entries()) {
        const hidden = !words.every((word) => text.includes(word));
        node.hidden = hidden;
        index.children[i].hidden = hidden;
      }
    });
  }, (error) => { list.replaceChildren(); problem.textContent = `The CLI reference could not be loaded: ${error.message}`; });
}

/** In-page links scroll without touching the address (a changed hash would redraw the page). */
function jump(event, node) {
  event.preventDefault();
  node.scrollIntoView({ block: "start" });
  node.querySelector("h2")?.focus({ preventScroll: true });
}

function searchable(command) {
  return [command.path, command.help, ...command.options.map((option) => `${option.names} ${option.help}`)]
    .join("\n").toLowerCase();
}

function commandSection(command) {
  const id = `cmd-${command.path.replace(/\s+/g, "-")}`;
  return el("section", { class: "panel doc-item", id, dataset: { command: command.path } },
    el("h2", { tabindex: "-1" }, el("code", { text: command.path }), command.group ? el("span", { class: "tag", text: "group" }) : null),
    el("pre", { class: "command-block usage", tabindex: "0" }, el("code", { text: command.usage })),
    command.help ? el("pre", { class: "help-text", text: command.help }) : null,
    command.arguments.length ? el("p", { class: "small muted" }, "Arguments: ",
      command.arguments.map((argument, i) => [i ? ", " : "", el("code", { text: argument.name }),
        argument.required ? "" : " (optional)"])) : null,
    command.options.length ? el("div", { class: "table-wrap" }, el("table", { class: "options" },
      el("caption", { class: "visually-hidden", text: `Options of ${command.path}` }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Option" }), el("th", { scope: "col", text: "What it does" }))),
      el("tbody", {}, command.options.map((option) => el("tr", {},
        el("td", { class: "mono nowrap", text: option.names }), el("td", { text: option.help })))))) : null,
    command.epilog ? el("pre", { class: "help-text", text: command.epilog }) : null);
}
