// Operator actions on rounds (tokens with the `admin` scope): publish a round built on the server from price
// CSVs picked here (PublishRoundFromCsv), close a round after a confirmation (CloseRound), resolve it from the
// market feed's bars or from a returns CSV as `mp admin rounds resolve --returns` takes it (ResolveRound).
// Loaded only for operators.

import * as api from "../api.js";
import { clear, el } from "../dom.js";
import * as format from "../format.js";

// The gateway takes a body of at most 16 MiB; base64 makes 3 bytes 4, and the JSON around them adds a little.
const MAX_UPLOAD = 12 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const TIME_COLUMNS = ["date", "datetime", "time", "timestamp"];
const DAY = 24 * 3600 * 1000;

/** The "Publish a round" panel of the rounds list. */
export function publishPanel({ navigate }) {
  const files = el("input", { type: "file", id: "publish-files", multiple: true, accept: ".csv,text/csv",
    "aria-describedby": "publish-files-help" });
  const opens = el("input", { type: "datetime-local", id: "publish-opens", step: 60 });
  const closes = el("input", { type: "datetime-local", id: "publish-closes", step: 60 });
  const number = el("input", { type: "number", id: "publish-number", min: 1, max: 1000000, placeholder: "next" });
  const fileFormat = el("select", { id: "publish-format" },
    el("option", { value: "parquet", text: "Parquet" }), el("option", { value: "csv", text: "CSV" }));
  const description = el("input", { id: "publish-description", maxlength: 2000, placeholder: "shown to vendors" });
  const preview = el("div", { id: "publish-preview", "aria-live": "polite" });
  const progress = el("progress", { id: "publish-progress", max: 100, hidden: true, "aria-label": "Upload" });
  const status = el("p", { id: "publish-status", class: "muted small", role: "status" });
  const problem = el("p", { class: "form-error", role: "alert", id: "publish-problem" });
  const submit = el("button", { type: "submit", class: "primary", id: "publish-submit", text: "Publish round",
    disabled: true });
  let picked = []; // [{file, facts}] of the chosen CSVs, read for the preview

  const form = el("form", { class: "publish-form", id: "publish-form", on: { submit: publish } },
    el("p", { class: "muted small", id: "publish-files-help",
      text: "One OHLCV file per symbol: a Date column plus Open, High, Low, Close and Volume; the symbol comes from a "
        + "Symbol column or the file name. The server builds the train, validation and live files, as "
        + "`mp admin rounds publish --from-csv` does. Up to 12 MiB of CSVs; larger histories: use the CLI." }),
    field("Price files", files),
    el("div", { class: "row" },
      field("Opens (UTC; empty: now)", opens), field("Closes (UTC; empty: 7 days after opening)", closes),
      field("Number", number), field("Built files", fileFormat)),
    field("Description", description),
    preview, problem,
    el("div", { class: "row" }, submit, progress), status);

  files.addEventListener("change", readPicked);
  for (const input of [opens, closes]) input.addEventListener("input", drawPreview);

  async function readPicked() {
    problem.textContent = "";
    status.textContent = "";
    picked = await Promise.all(Array.from(files.files, async (file) => ({ file, facts: priceFacts(file.name, await file.text()) })));
    drawPreview();
  }

  function windowOf() {
    const opensAt = opens.value ? utc(opens.value) : new Date();
    const closesAt = closes.value ? utc(closes.value) : new Date(opensAt.getTime() + 7 * DAY);
    return { opensAt, closesAt, now: !opens.value };
  }

  function drawPreview() {
    clear(preview);
    const size = picked.reduce((total, { file }) => total + file.size, 0);
    const { opensAt, closesAt, now } = windowOf();
    const days = (closesAt - opensAt) / DAY;
    const problems = [];
    if (!(closesAt > opensAt)) problems.push("The round would close before it opens.");
    if (size > MAX_UPLOAD) {
      problems.push(`The files are ${format.bytes(size)} together; the console uploads at most 12 MiB. `
        + "Publish larger histories with `mp admin rounds publish --from-csv`.");
    }
    preview.append(el("p", { id: "publish-window", class: "window" },
      `Opens ${now ? "now" : format.dateTime(opensAt.toISOString())}, closes ${format.dateTime(closesAt.toISOString())}`,
      days > 0 ? ` (${days % 1 ? days.toFixed(1) : days} day${days === 1 ? "" : "s"})` : ""));
    if (picked.length) {
      preview.append(el("div", { class: "table-wrap" }, el("table", { class: "csv-preview" },
        el("thead", {}, el("tr", {}, ["File", "Symbol", "Bars", "From", "To", "Size"].map((name) =>
          el("th", { scope: "col", class: ["Bars", "Size"].includes(name) ? "num" : null, text: name })))),
        el("tbody", { id: "publish-preview-rows" }, picked.map(({ file, facts }) => el("tr", {},
          el("td", { class: "mono", text: file.name }), el("td", { class: "mono", text: facts.symbol }),
          el("td", { class: "num", text: format.count(facts.bars) }),
          el("td", { text: facts.first || "—" }), el("td", { text: facts.last || "—" }),
          el("td", { class: "num", text: format.bytes(file.size) })))))));
      for (const { file, facts } of picked) if (facts.problem) problems.push(`${file.name}: ${facts.problem}`);
    }
    problem.textContent = problems.join(" ");
    submit.disabled = !picked.length || size > MAX_UPLOAD || !(closesAt > opensAt);
  }

  async function publish(event) {
    event.preventDefault();
    problem.textContent = "";
    submit.disabled = true;
    const { opensAt, closesAt, now } = windowOf();
    const header = {
      requestId: api.requestId(), files: picked.map(({ file }) => ({ name: file.name })),
      format: fileFormat.value, description: description.value.trim(), number: Number(number.value || 0),
      openTime: now ? undefined : opensAt.toISOString(), closeTime: closes.value ? closesAt.toISOString() : undefined,
    };
    try {
      status.textContent = "Reading the files…";
      const lines = [{ header }];
      for (const { file } of picked) {
        const bytes = new Uint8Array(await file.arrayBuffer());
        for (let start = 0; start < bytes.length; start += CHUNK) {
          lines.push({ chunk: { file: file.name, data: base64(bytes.subarray(start, start + CHUNK)) } });
        }
      }
      progress.hidden = false;
      progress.value = 0;
      const round = await api.upload("/api/admin/rounds:fromCsv", lines, { onProgress: (sent, total) => {
        const share = total ? Math.round((100 * sent) / total) : 100;
        progress.value = share;
        status.textContent = share < 100
          ? `Uploading: ${share}% (${format.bytes(sent)} of ${format.bytes(total)})`
          : "Uploaded. Building the round on the server…";
      } });
      status.textContent = `Published round ${round.number}.`;
      navigate(`/marketplace/rounds/${round.number}`);
    } catch (error) {
      status.textContent = "";
      problem.textContent = error.message;
      submit.disabled = false;
    } finally {
      progress.hidden = true;
    }
  }

  drawPreview();
  return el("details", { class: "panel publish", id: "publish-panel" },
    el("summary", {}, el("h2", { text: "Publish a round from price CSVs" })), form);
}

/** The operator's panel of one round: close it, resolve it from a returns file. */
export function roundActions(round, { navigate }) {
  const state = format.roundState(round.state);
  const problem = el("p", { class: "form-error", role: "alert", id: "round-action-problem" });
  const dialog = el("dialog", { class: "dialog", id: "round-dialog", "aria-labelledby": "round-dialog-title" });
  const panel = el("section", { class: "panel", id: "round-actions" }, el("h2", { text: "Operator actions" }), problem);
  const reload = () => navigate(`/marketplace/rounds/${round.number}`, { replace: true });

  if (state === "open" || state === "upcoming") {
    panel.append(el("div", { class: "row" },
      el("button", { type: "button", class: "danger", id: "close-round", text: `Close round ${round.number}`,
        on: { click: confirmClose } }),
      el("span", { class: "muted small", text: "Vendors can still pull its files; it stops being the current round." })));
  }
  if (state !== "resolved") panel.append(resolveFromFeed(), resolveForm());
  else panel.append(el("p", { class: "muted", text: `Resolved ${format.dateTime(round.resolveTime)}: live scores include it.` }));
  panel.append(dialog);
  return panel;

  function confirmClose() {
    clear(dialog);
    dialog.append(
      el("h2", { id: "round-dialog-title", text: `Close round ${round.number}?` }),
      el("p", { text: "It closes now, before its planned close. This cannot be undone." }),
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "ghost", text: "Cancel", on: { click: () => dialog.close() } }),
        el("button", { type: "button", class: "danger", id: "confirm-close", text: "Close round", on: { click: async () => {
          dialog.close();
          if (await guarded(() => api.post(`/api/admin/rounds/${round.number}:close`, {}))) reload();
        } } })));
    dialog.showModal();
  }

  // No returns in the request: the server computes them from the stored bars, or says which symbols' bars
  // do not reach the round's horizon yet (shown as the problem).
  function resolveFromFeed() {
    const button = el("button", { type: "button", class: "primary", id: "resolve-from-feed",
      text: `Resolve round ${round.number} from the market feed` });
    button.addEventListener("click", async () => {
      button.disabled = true;
      const done = await guarded(() => api.post(`/api/admin/rounds/${round.number}:resolve`, { returns: [] }));
      if (done) reload();
      else button.disabled = false;
    });
    return el("div", { class: "resolve-feed", id: "resolve-feed" },
      el("h3", { text: "Resolve from the feed" }),
      el("p", { class: "muted small", text: "Each symbol's return from the stored bars: close(first bar at or after the "
        + "round's data end + its horizon) / close(last bar at or before its data end) − 1, as `mp admin rounds resolve` "
        + "without --returns computes it." }),
      button);
  }

  function resolveForm() {
    const input = el("input", { type: "file", id: "returns-file", accept: ".csv,text/csv",
      "aria-describedby": "returns-help" });
    const preview = el("div", { id: "returns-preview" });
    const submit = el("button", { type: "submit", class: "primary", id: "resolve-round",
      text: `Resolve round ${round.number}`, disabled: true });
    let returns = [];
    input.addEventListener("change", async () => {
      problem.textContent = "";
      clear(preview);
      submit.disabled = true;
      const file = input.files[0];
      if (!file) return;
      const read = readReturns(file.name, await file.text(), round.symbols || []);
      returns = read.returns;
      if (read.problem) {
        problem.textContent = read.problem;
        return;
      }
      preview.append(el("div", { class: "table-wrap" }, el("table", { class: "returns-preview" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Symbol" }),
          el("th", { scope: "col", class: "num", text: "Realised return" }))),
        el("tbody", { id: "returns-rows" }, returns.map((item) => el("tr", {},
          el("td", { class: "mono", text: item.symbol }),
          el("td", { class: ["num", item.realizedReturn >= 0 ? "up" : "down"], text: `${(100 * item.realizedReturn).toFixed(2)}%` })))))));
      submit.disabled = false;
    });
    return el("form", { class: "resolve-form", id: "resolve-form", on: { submit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      const done = await guarded(() => api.post(`/api/admin/rounds/${round.number}:resolve`, { returns }));
      if (done) reload();
      else submit.disabled = false;
    } } },
      el("h3", { text: "Resolve from a returns file" }),
      el("p", { class: "muted small", id: "returns-help",
        text: "A CSV with the columns symbol,realized_return and one row per symbol of the round, as "
          + "`mp admin rounds resolve --returns` takes it. Resolving scores every model that signalled in the round." }),
      field("Returns file", input), preview, submit);
  }

  async function guarded(work) {
    problem.textContent = "";
    try {
      return await work();
    } catch (error) {
      problem.textContent = error.message;
      return null;
    }
  }
}

function field(label, input) {
  return el("label", { class: "field" }, el("span", { text: label }), input);
}

/** A datetime-local value read as UTC. */
function utc(value) {
  return new Date(`${value}Z`);
}

function base64(bytes) {
  let text = "";
  for (let start = 0; start < bytes.length; start += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(start, start + 0x8000));
  }
  return btoa(text);
}

function splitLine(line) {
  return line.split(",").map((cell) => cell.trim().replace(/^"(.*)"$/, "$1"));
}

/** What the preview shows of a price file: its symbol, bar count and first and last time. The server checks
 * every cell; this only helps the operator see they picked the right files. */
export function priceFacts(name, text) {
  const lines = text.split(/\r?\n/).filter((line) => line.trim());
  const columns = splitLine((lines[0] || "").replace(/^\uFEFF/, "")).map((column) => column.toLowerCase());
  const timeAt = columns.findIndex((column) => TIME_COLUMNS.includes(column));
  const symbolAt = columns.indexOf("symbol");
  const rows = lines.slice(1).map(splitLine);
  const stem = name.replace(/\.[^.]*$/, "").toUpperCase();
  return {
    symbol: symbolAt >= 0 && rows.length ? rows[0][symbolAt] : stem,
    bars: rows.length,
    first: timeAt >= 0 && rows.length ? rows[0][timeAt] : "",
    last: timeAt >= 0 && rows.length ? rows[rows.length - 1][timeAt] : "",
    problem: !lines.length ? "the file is empty" : timeAt < 0 ? "no Date column in the first line" : "",
  };
}

/** A returns CSV (symbol,realized_return), every row checked; the first bad one is named by its line. */
export function readReturns(name, text, symbols) {
  const lines = text.split(/\r?\n/);
  const columns = splitLine((lines[0] || "").replace(/^\uFEFF/, ""));
  const symbolAt = columns.indexOf("symbol");
  const valueAt = columns.indexOf("realized_return");
  if (symbolAt < 0 || valueAt < 0) return { returns: [], problem: `${name} needs the columns symbol,realized_return` };
  const returns = [];
  for (let index = 1; index < lines.length; index += 1) {
    if (!lines[index].trim()) continue;
    const cells = splitLine(lines[index]);
    const value = Number(cells[valueAt]);
    if (cells[valueAt] === undefined || cells[valueAt] === "" || !Number.isFinite(value)) {
      return { returns: [], problem: `${name} line ${index + 1}: ${JSON.stringify(cells[valueAt] ?? "")} is not a number` };
    }
    returns.push({ symbol: cells[symbolAt], realizedReturn: value });
  }
  const given = new Set(returns.map((item) => item.symbol));
  const missing = symbols.filter((symbol) => !given.has(symbol));
  if (!returns.length) return { returns, problem: `${name} has no rows` };
  if (missing.length) return { returns, problem: `${name} has no realised return for ${missing.slice(0, 10).join(", ")}` };
  return { returns, problem: "" };
}
