// The console's only way to the platform: the public REST API under /api, as any frontend would call it.
//
// Signing in exchanges the pasted token for a session (CreateSession): the server sets it as an
// HttpOnly cookie that no script can read, and the pasted token is dropped at once. It is never kept
// in localStorage, sessionStorage or memory. Writes carry the CSRF token the server hands this page.

let csrf = "";
let session = false;

export function signedIn() { return session; }

/** A fresh client request id (AIP-155), so a retried create never makes two of anything. */
export function requestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

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

function headers(method, extra = {}) {
  const all = { Accept: "application/json", ...extra };
  if (!["GET", "HEAD"].includes(method) && csrf) all["X-CSRF-Token"] = csrf;
  return all;
}

function remember(response) {
  const given = response.headers.get("X-CSRF-Token");
  if (given) csrf = given;
  if (response.status === 401) { session = false; csrf = ""; }
}

async function failure(response) {
  let document = null;
  try { document = await response.json(); } catch { /* not JSON: a proxy's page */ }
  const message = document?.message || `${response.status} ${response.statusText}`;
  return new ApiError(response.status, document?.code ?? 0, message, document?.details ?? []);
}

/**
 * A unary call: GET with query parameters, or a write with a JSON body. With `token`, this one call
 * is made with that bearer token instead of the session (a person confirming with their own token);
 * the cookie is not sent, and the token is not kept.
 */
export async function call(method, path, { query, body, signal, token } = {}) {
  const init = { method, headers: headers(method), signal, credentials: "same-origin", cache: "no-store" };
  if (token) {
    init.headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
    init.credentials = "omit";
  }
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url(path, query), init);
  if (!token) remember(response); // a wrongly pasted token must not end the session
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** Exchanges a pasted token for a cookie session; returns who signed in. The token is not kept. */
export async function signIn(secret) {
  const response = await fetch(url("/api/auth/sessions"), {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json", Authorization: `Bearer ${secret.trim()}`,
      "X-MP-Session": "cookie" },
    body: "{}", credentials: "same-origin", cache: "no-store",
  });
  if (!response.ok) throw await failure(response);
  remember(response);
  session = true;
  return get("/api/whoami");
}

/** The session this browser already has (its cookie), or null. */
export async function resume() {
  if (!document.cookie.split("; ").includes("mp_signed_in=1")) return null;
  try {
    const whoami = await get("/api/whoami");
    session = true;
    return whoami;
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

/** Ends the session on the server (it is revoked) and drops the cookie. */
export async function signOut() {
  try {
    await post("/api/auth/sessions:end", {});
  } finally {
    session = false;
    csrf = "";
  }
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
    headers: headers("GET", { Accept: "application/x-ndjson" }), signal, credentials: "same-origin", cache: "no-store",
  });
  remember(response);
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

/**
 * A client-streamed upload: `lines` (messages) sent as one NDJSON body, as the gateway takes client streams.
 * Sent with XMLHttpRequest, the one browser API that reports upload progress: `onProgress(sent, total)`.
 */
export function upload(path, lines, { onProgress } = {}) {
  const body = lines.map((line) => JSON.stringify(line)).join("\n");
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", url(path));
    for (const [name, value] of Object.entries(headers("POST", { "Content-Type": "application/x-ndjson" }))) {
      request.setRequestHeader(name, value);
    }
    request.upload.addEventListener("progress", (event) => onProgress?.(event.loaded, event.total));
    request.addEventListener("load", () => {
      remember({ status: request.status, headers: { get: (name) => request.getResponseHeader(name) } });
      let document = null;
      try { document = JSON.parse(request.responseText); } catch { /* not JSON: a proxy's page */ }
      if (request.status >= 200 && request.status < 300 && document) resolve(document);
      else reject(new ApiError(request.status, document?.code ?? 0,
        document?.message || `${request.status} ${request.statusText}`, document?.details ?? []));
    });
    request.addEventListener("error", () => reject(new ApiError(0, 14, "The server could not be reached.")));
    request.send(body);
  });
}
