// The API reference: every RPC of the REST gateway from /openapi.json (built from the contracts'
// descriptors): its description (the proto comment), who may call it (scopes, token kinds, rate class from
// `(access)`), its REST path and fields, and a form that tries the call with this session.

import * as api from "../api.js";
import { clear, el, link } from "../dom.js";
import { docsHead, richText } from "./docs.js";

export const title = "API reference";

const VERBS = ["get", "post", "put", "patch", "delete"];

export function render(view, { principal } = {}) {
  const problem = el("p", { class: "form-error", role: "alert" });
  const list = el("div", { class: "doc-list", id: "api-operations" }, el("p", { class: "muted", text: "Loading…" }));
  const filter = el("input", { type: "search", id: "api-filter", placeholder: "Filter: catalog, deploy:write, /api/rounds…",
    "aria-label": "Filter operations" });
  const index = el("div", { class: "doc-index", id: "api-index" });
  view.append(
    ...docsHead("API reference", "Every call of the REST API, generated from the contracts (/openapi.json).",
      "/marketplace/docs/api"),
    el("div", { class: "toolbar" }, filter, el("span", { class: "spacer" }),
      el("a", { href: "/openapi.json", text: "openapi.json" })),
    principal ? null : el("p", { class: "muted", id: "api-signed-out" }, link("/marketplace", "Sign in"),
      " to try the calls with your token; until then they answer 401."),
    problem,
    el("div", { class: "doc-layout" }, el("nav", { class: "doc-side", "aria-label": "Operation index" }, index), list));

  const controller = new AbortController();
  api.get("/openapi.json", undefined, controller.signal).then((document) => {
    const operations = collect(document);
    const sections = operations.map((operation) => ({ operation, node: operationSection(operation, document),
      words: [operation.path, operation.verb, operation.operationId, operation.description,
        ...(operation["x-mp-access"]?.scopes || [])].join("\n").toLowerCase() }));
    list.replaceChildren(...sections.map(({ node }) => node));
    const byTag = new Map((document.tags || []).map((tag) => [tag.name, []]));
    sections.forEach((section, i) => byTag.get(section.operation.tags?.[0])?.push([section, i]));
    const links = [];
    for (const [tag, items] of byTag) {
      if (!items.length) continue;
      index.append(el("h2", { class: "doc-index-head", text: tag }),
        el("ul", {}, items.map(([{ operation, node }, i]) => (links[i] = el("li", {}, el("a", { href: `#${node.id}`,
          text: operation.operationId.split("_").slice(1).join("_"), on: { click: (event) => jump(event, node) } }))))));
    }
    filter.addEventListener("input", () => {
      const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      sections.forEach(({ node, words: text }, i) => {
        node.hidden = !words.every((word) => text.includes(word));
        if (links[i]) links[i].hidden = node.hidden;
      });
    });
  }, (error) => {
    if (error.name === "AbortError") return;
    list.replaceChildren();
    problem.textContent = `The API document could not be loaded: ${error.message}`;
  });
  return () => controller.abort();
}

function collect(document) {
  const operations = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const verb of VERBS) if (item[verb]) operations.push({ ...item[verb], path, verb });
  }
  const order = new Map((document.tags || []).map((tag, i) => [tag.name, i]));
  return operations.sort((a, b) => (order.get(a.tags?.[0]) ?? 99) - (order.get(b.tags?.[0]) ?? 99));
}

function jump(event, node) {
  event.preventDefault();
  node.scrollIntoView({ block: "start" });
  node.querySelector("h3")?.focus({ preventScroll: true });
}

function resolve(schema, document) {
  const ref = schema?.$ref;
  return ref ? document.components.schemas[ref.split("/").pop()] || {} : schema || {};
}

/** DEPLOYMENT_STATE_{PENDING, LIVE, …}: the names, their shared prefix written once. */
function enumText(names) {
  const strings = names.map(String);
  let prefix = strings[0] || "";
  for (const name of strings) while (!name.startsWith(prefix)) prefix = prefix.slice(0, -1);
  prefix = prefix.slice(0, prefix.lastIndexOf("_") + 1);
  return prefix ? `${prefix}{${strings.map((name) => name.slice(prefix.length)).join(", ")}}` : `one of ${strings.join(", ")}`;
}

function typeText(schema) {
  if (!schema) return "any";
  if (schema.$ref) return schema.$ref.split("/").pop().replace(/^marketplace\.v1\./, "");
  if (schema.anyOf) {
    const kinds = schema.anyOf.filter((s) => s.type !== "null" && !(s.enum && s.enum.length === 1 && s.enum[0] === ""));
    if (kinds.length && kinds.every((s) => s.enum)) return enumText(kinds[0].enum);
    return kinds.map(typeText).join(" or ") || "null";
  }
  if (schema.type === "array") return `array of ${typeText(schema.items)}`;
  if (schema.type === "object" && schema.additionalProperties) return `map of ${typeText(schema.additionalProperties)}`;
  return schema.format ? `${schema.type} (${schema.format})` : schema.type || "any";
}

function access(operation) {
  const rule = operation["x-mp-access"];
  if (!rule) return null;
  if (rule.public) return el("dl", { class: "facts access" }, fact("Access", "public: no token needed"));
  return el("dl", { class: "facts access", dataset: { scopes: rule.scopes.join(" ") } },
    fact("Scopes", rule.scopes.length ? rule.scopes.map((scope) => el("code", { class: "scope-chip", text: scope })) : "none"),
    fact("Token kinds", rule.callers.join(", ")),
    fact("Rate class", rule.rateClass));
}

function fact(name, ...value) {
  return el("div", {}, el("dt", { text: name }), el("dd", {}, value));
}

function fieldsTable(caption, rows) {
  if (!rows.length) return null;
  return el("div", { class: "table-wrap" }, el("table", { class: "fields" },
    el("caption", { class: "visually-hidden", text: caption }),
    el("thead", {}, el("tr", {}, ["Field", "In", "Type", "Description"].map((name) => el("th", { scope: "col", text: name })))),
    el("tbody", {}, rows.map(([name, where, schema, description, required]) => el("tr", {},
      el("td", { class: "mono" }, name, required ? el("span", { class: "required", title: "required", text: " *" }) : null),
      el("td", { text: where }), el("td", { class: "mono small", text: typeText(schema) }),
      el("td", { class: "pre-line" }, richText(description || "")))))));
}

function operationSection(operation, document) {
  const id = `op-${operation.operationId}`;
  const paragraphs = (operation.description || "").split("\n\n").filter((text) => text && !text.startsWith("**Access**"));
  // The summary is the comment's first sentence: the first paragraph goes on after it.
  if (operation.summary && paragraphs[0]?.startsWith(operation.summary)) {
    paragraphs[0] = paragraphs[0].slice(operation.summary.length).trim();
  }
  const rows = (operation.parameters || []).map((p) => [p.name, p.in, p.schema, p.description, p.required]);
  const media = Object.keys(operation.requestBody?.content || {})[0];
  const body = media ? resolve(operation.requestBody.content[media].schema, document) : null;
  for (const [name, schema] of Object.entries(body?.properties || {})) {
    rows.push([name, "body", schema, schema.description, (body.required || []).includes(name)]);
  }
  const streams = media === "application/x-ndjson" || Boolean(operation.responses?.["200"]?.content?.["application/x-ndjson"]);
  return el("section", { class: "panel doc-item", id, dataset: { operation: operation.operationId } },
    el("h3", { tabindex: "-1" }, el("span", { class: `verb verb-${operation.verb}`, text: operation.verb.toUpperCase() }),
      el("code", { class: "rest-path", text: operation.path })),
    el("p", { class: "op-summary", text: operation.summary }),
    paragraphs.filter(Boolean).map((text) => el("p", { class: "pre-line" }, richText(text))),
    access(operation),
    fieldsTable(`Fields of ${operation.operationId}`, rows),
    tryIt(operation, body, streams));
}

function tryIt(operation, body, streams) {
  const details = el("details", { class: "try-it" }, el("summary", { text: "Try it" }));
  details.addEventListener("toggle", () => {
    if (details.open && details.children.length === 1) details.append(...tryForm(operation, body, streams));
  });
  return details;
}

function tryForm(operation, body, streams) {
  const base = operation.operationId;
  if (streams) {
    return [el("p", { class: "muted small" }, "A stream (newline-delimited JSON): try it with ",
      el("code", { text: `curl -N -H "Authorization: Bearer $TOKEN" ${window.location.origin}${operation.path}` }), ".")];
  }
  const inputs = (operation.parameters || []).map((parameter) => {
    const input = el("input", { id: `${base}-${parameter.name}`, name: parameter.name, required: parameter.required,
      dataset: { in: parameter.in }, autocomplete: "off" });
    return el("label", { class: "try-field" }, el("span", { class: "mono", text: parameter.name }), input);
  });
  const text = body ? el("textarea", { id: `${base}-body`, rows: 4, spellcheck: "false", class: "mono" }) : null;
  if (text) text.value = "{}";
  const output = el("pre", { class: "try-output", id: `${base}-output`, role: "status", tabindex: "0" });
  const form = el("form", { class: "try-form", on: { submit: send } }, inputs,
    text ? el("label", { class: "try-field wide" }, el("span", { text: "JSON body" }), text) : null,
    el("button", { type: "submit", class: "primary", text: `Send ${operation.verb.toUpperCase()}` }));

  async function send(event) {
    event.preventDefault();
    let path = operation.path;
    const query = {};
    for (const field of form.querySelectorAll("input[data-in]")) {
      if (field.dataset.in === "path") path = path.replace(`{${field.name}}`, encodeURIComponent(field.value.trim()));
      else if (field.value !== "") query[field.name] = field.value;
    }
    let payload;
    if (text) {
      try {
        payload = JSON.parse(text.value || "{}");
      } catch (error) {
        output.dataset.outcome = "error";
        output.textContent = `The body is not JSON: ${error.message}`;
        return;
      }
    }
    output.dataset.outcome = "pending";
    output.textContent = "Sending…";
    try {
      const answer = await api.call(operation.verb.toUpperCase(), path, { query, body: payload });
      output.dataset.outcome = "ok";
      output.textContent = JSON.stringify(answer, null, 2);
    } catch (error) {
      output.dataset.outcome = "error";
      const document = { code: error.code, message: error.message, details: error.details };
      output.textContent = `${error.status || "network error"}\n${JSON.stringify(document, null, 2)}`;
    }
  }
  clear(output);
  return [form, output];
}
