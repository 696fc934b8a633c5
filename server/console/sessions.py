"""Cookie sessions for the web console, in front of the gateway.

Sign-in: the page posts the pasted token to CreateSession (`POST /api/auth/sessions`) with the header
`X-MP-Session: cookie`; the session token in the answer is moved out of the body into an HttpOnly,
SameSite=Strict cookie (Secure, and named `__Host-…`, over HTTPS), so no script ever reads a token.
Afterwards a same-origin request to /api/… that carries no Authorization header is authorised by the
cookie: the gateway sees `Authorization: Bearer <session token>` and every contract rule applies as
for any token. Sign-out is EndSession (`POST /api/auth/sessions:end`), which revokes the session on the
server; its answer, and any 401 to a cookie, clears the cookie.

CSRF: SameSite=Strict keeps other sites' requests from carrying the cookie; a request the cookie
authorises must moreover come from this origin (Origin and Sec-Fetch-Site, when the browser sends
them), and a write must carry `X-CSRF-Token`, a value derived from the session token that only a
page of this origin learns (answer header `X-CSRF-Token` of each cookie-authorised call).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SIGN_IN_PATH = "/api/auth/sessions"
SIGN_OUT_PATH = "/api/auth/sessions:end"
COOKIE = "mp_session"
SECURE_COOKIE = "__Host-mp_session"  # __Host-: Secure, Path=/, no Domain, enforced by the browser
# Readable by the page and secret-free: whether asking "who am I" is worth a request on load (a
# first visit would otherwise begin with a 401, which browsers log as an error).
HINT_COOKIE = "mp_signed_in"
CSRF_HEADER = "x-csrf-token"
SESSION_HEADER = "x-mp-session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_TOKEN = re.compile(r"^[A-Za-z0-9_]{16,256}$")


def csrf_token(secret: str) -> str:
    return hashlib.sha256(b"mp-csrf\0" + secret.encode()).hexdigest()[:32]


class CookieSessions:
    """ASGI middleware: cookie → Authorization for same-origin /api/ calls, and the session cookie's life."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        secure = scope.get("scheme") == "https"
        if "authorization" in headers:
            if scope["path"] == SIGN_IN_PATH and headers.get(SESSION_HEADER) == "cookie" and scope["method"] == "POST":
                send = _issuing_cookie(send, secure)
            await self.app(scope, receive, send)
            return
        secret = _session_cookie(headers, secure)
        if secret is None:
            await self.app(scope, receive, send)
            return
        refusal = _refusal(scope, headers, secret)
        if refusal:
            await _refuse(send, refusal)
            return
        scope = {**scope, "headers": [*scope["headers"], (b"authorization", f"Bearer {secret}".encode())]}
        await self.app(scope, receive, _answering_cookie(send, secret, secure, scope["path"] == SIGN_OUT_PATH))


def _session_cookie(headers: Headers, secure: bool) -> str | None:
    # Over HTTPS only the __Host- cookie counts: a plain cookie may have been planted by a sibling
    # domain or over plain HTTP (cookie tossing), which would sign the victim in as the attacker.
    wanted = SECURE_COOKIE if secure else COOKIE
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == wanted and _TOKEN.match(value):
            return value
    return None


def _refusal(scope: Scope, headers: Headers, secret: str) -> str:
    """Why a cookie-authorised request is refused, or ""."""
    if scope["path"] == SIGN_IN_PATH:
        # The answer would carry a new session's secret in its body, readable by any script.
        return "a session is made from a token pasted into the sign-in form, not from the session cookie"
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"the session cookie is accepted from this site's own pages only (Sec-Fetch-Site: {fetch_site})"
    origin = headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != headers.get("host", ""):
        return "the session cookie is accepted from this site's own pages only (Origin differs)"
    if scope["method"] not in SAFE_METHODS:
        given = headers.get(CSRF_HEADER, "").encode("latin-1")  # header values arrive latin-1 decoded
        if not hmac.compare_digest(given, csrf_token(secret).encode()):
            return "a write with the session cookie needs the X-CSRF-Token header the console was given"
    return ""


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"code": 7, "message": message, "details": []}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _cookie_headers(secret: str, max_age: int, secure: bool) -> list[tuple[bytes, bytes]]:
    name = SECURE_COOKIE if secure else COOKIE
    tail = f"; Path=/; Max-Age={max_age}; SameSite=Strict" + ("; Secure" if secure else "")
    session = f"{name}={secret}{tail}; HttpOnly"
    hint = f"{HINT_COOKIE}={'1' if secret else ''}{tail}"
    return [(b"set-cookie", session.encode()), (b"set-cookie", hint.encode())]


def _clearing(secure: bool) -> list[tuple[bytes, bytes]]:
    return _cookie_headers("", 0, secure)


def _answering_cookie(send: Send, secret: str, secure: bool, signing_out: bool) -> Send:
    """Adds the CSRF token to each answer; clears the cookie after sign-out or when the server refuses it."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (CSRF_HEADER.encode(), csrf_token(secret).encode())]
            if message["status"] == 401 or (signing_out and message["status"] == 200):
                headers += _clearing(secure)
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


def _issuing_cookie(send: Send, secure: bool) -> Send:
    """Holds CreateSession's answer back, moves its secret into the cookie, and sends the rest."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body" or not start:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if start["status"] == 200:
            document = json.loads(body)
            secret = document.pop("secret")
            expires = document.get("token", {}).get("expireTime", "")
            body = json.dumps(document, separators=(",", ":")).encode()
            headers += _cookie_headers(secret, _seconds_until(expires), secure)
            headers.append((CSRF_HEADER.encode(), csrf_token(secret).encode()))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped


def _seconds_until(rfc3339: str) -> int:
    try:
        moment = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    except ValueError:
        return 3600
    return max(0, int((moment - datetime.now(UTC)).total_seconds()))
