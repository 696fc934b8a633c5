// The console's only way to the platform: the public REST API under /api, as any frontend would call it.
// The token is kept in this module's memory for the life of the page: never in localStorage,
// sessionStorage or a cookie readable by scripts. Reloading the page signs out.

let token = null;

export function signIn(secret) { token = secret.trim(); }
export function signOut() { token = null; }
export function signedIn() { return token !== null; }

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function url(path, query) {
  const target = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.set(key, String(value));
  }
  return target;
}

function headers(extra = {}) {
  const all = { Accept: "application/json", ...extra };
  if (token) all.Authorization = `Bearer ${token}`;
  return all;
}

async function failure(response) {
  let document = null;
  try { document = await response.json(); } catch { /* not JSON: a proxy's page */ }
  const message = document?.message || `${response.status} ${response.statusText}`;
  return new ApiError(response.status, document?.code ?? 0, message, document?.details ?? []);
}

/** A unary call: GET with query parameters, or a write with a JSON body. */
export async function call(method, path, { query, body, signal } = {}) {
  const init = { method, headers: headers(), signal, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url(path, query), init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

export const get = (path, query, signal) => call("GET", path, { query, signal });
export const post = (path, body) => call("POST", path, { body });

/**
 * A server stream through the gateway: newline-delimited JSON, `{"result": …}` per message, then
 * `{"error": …}` if the stream fails. Calls `onOpen` once the server has answered 200, then
 * `onMessage` per message; resolves when the stream ends, rejects with an ApiError or a network error.
 */
export async function stream(path, { query, signal, onOpen, onMessage }) {
  const response = await fetch(url(path, query), {
    headers: headers({ Accept: "application/x-ndjson" }), signal, credentials: "same-origin", cache: "no-store",
  });
  if (!response.ok) throw await failure(response);
  onOpen?.();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    let end;
    while ((end = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
      if (!line) continue;
      const item = JSON.parse(line);
      if (item.error) throw new ApiError(200, item.error.code, item.error.message, item.error.details);
      onMessage(item.result);
    }
  }
}
