"""Browser sessions: CreateSession / EndSession in the contract, and the cookie layer in front of the
gateway (HttpOnly cookie, same-origin only, CSRF token on writes, revoked at sign-out)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mlmp_server.console.sessions import csrf_token
from tests.helpers.console import Api

HOUR = 3600


@pytest.fixture
def http(console_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_server.http_url, timeout=10) as client:
        yield client


def cookie_session(http: httpx.Client, token: str) -> httpx.Response:
    answer = http.post(
        "/api/auth/sessions", json={}, headers={"Authorization": f"Bearer {token}", "X-MP-Session": "cookie"}
    )
    assert answer.status_code == 200, answer.text
    return answer


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_browser_gets_the_session_as_an_httponly_cookie_never_in_the_body(http, console_server):
    answer = cookie_session(http, console_server.admin_token)
    assert "secret" not in answer.json()
    assert answer.json()["token"]["displayName"] == "web session"
    set_cookies = answer.headers.get_list("set-cookie")
    session = next(header for header in set_cookies if header.startswith("mp_session="))
    assert "HttpOnly" in session
    assert "SameSite=Strict" in session
    assert "Path=/" in session
    assert "Secure" not in session  # plain HTTP here; over HTTPS it is Secure and named __Host-mp_session
    secret = http.cookies["mp_session"]
    assert answer.headers["x-csrf-token"] == csrf_token(secret)
    expires = moment(answer.json()["token"]["expireTime"])
    assert expires - datetime.now(UTC) <= timedelta(hours=8)
    whoami = http.get("/api/whoami")  # the cookie alone
    assert whoami.status_code == 200
    assert whoami.json()["kind"] == "PRINCIPAL_KIND_ADMIN"
    assert whoami.headers["x-csrf-token"] == csrf_token(secret)


def test_an_api_client_gets_the_secret_in_the_body(http, console_server):
    answer = http.post("/api/auth/sessions", json={"ttl": "600s"},
                       headers={"Authorization": f"Bearer {console_server.admin_token}"})  # fmt: skip
    assert answer.status_code == 200
    assert "set-cookie" not in answer.headers
    secret = answer.json()["secret"]
    assert moment(answer.json()["token"]["expireTime"]) - datetime.now(UTC) <= timedelta(seconds=600)
    assert http.get("/api/whoami", headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_a_session_keeps_its_vendor_and_scopes_and_never_outlives_its_token(http, api: Api):
    api.call("POST", "/api/admin/vendors", {"slug": "acme", "displayName": "Acme Quant"})
    created = api.call("POST", "/api/admin/tokens", {"vendor": "acme", "scopes": ["catalog:read"], "ttl": "120s"})
    answer = cookie_session(http, created["secret"])
    token = answer.json()["token"]
    assert token["vendorSlug"] == "acme"
    assert token["scopes"] == ["catalog:read"]
    assert moment(token["expireTime"]) <= moment(created["token"]["expireTime"])
    assert http.get("/api/catalog").status_code == 200
    assert http.get("/api/signals").status_code == 403  # no signals:read: the session has no more than its token


def test_a_deployment_token_cannot_open_a_session(http, api: Api):
    deployment_token = api.deployment(api.vendor("acme", "Acme"), "m")[1]
    answer = http.post("/api/auth/sessions", json={}, headers={"Authorization": f"Bearer {deployment_token}"})
    assert answer.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}],
)
def test_the_cookie_is_refused_from_other_origins(http, console_server, headers):
    cookie_session(http, console_server.admin_token)
    refused = http.get("/api/whoami", headers=headers)
    assert refused.status_code == 403
    assert "own pages only" in refused.json()["message"]


def test_a_write_with_the_cookie_needs_the_csrf_token(http, console_server):
    csrf = cookie_session(http, console_server.admin_token).headers["x-csrf-token"]
    refused = http.post("/api/auth/sessions:end", json={})
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["message"]
    wrong = http.post("/api/auth/sessions:end", json={}, headers={"X-CSRF-Token": "0" * 32})
    assert wrong.status_code == 403
    assert http.get("/api/whoami").status_code == 200  # still signed in
    ended = http.post("/api/auth/sessions:end", json={}, headers={"X-CSRF-Token": csrf})
    assert ended.status_code == 200
    assert ended.json()["revokeTime"]


def test_sign_out_revokes_the_session_and_clears_the_cookie(http, console_server):
    csrf = cookie_session(http, console_server.admin_token).headers["x-csrf-token"]
    secret = http.cookies["mp_session"]
    ended = http.post("/api/auth/sessions:end", json={}, headers={"X-CSRF-Token": csrf})
    assert ended.status_code == 200
    assert any(header.startswith("mp_session=;") for header in ended.headers.get_list("set-cookie"))
    assert "mp_session" not in http.cookies
    assert http.get("/api/whoami", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    # A cookie the server no longer honours is cleared on its first 401.
    stale = http.get("/api/whoami", headers={"Cookie": f"mp_session={secret}"})
    assert stale.status_code == 401
    assert any(header.startswith("mp_session=;") for header in stale.headers.get_list("set-cookie"))


def test_only_a_session_token_ends_itself(http, console_server):
    refused = http.post("/api/auth/sessions:end", json={},
                        headers={"Authorization": f"Bearer {console_server.admin_token}"})  # fmt: skip
    assert refused.status_code == 400
    assert "only a session token" in refused.json()["message"]
    assert http.get("/api/whoami", headers={"Authorization": f"Bearer {console_server.admin_token}"}).status_code == 200


def test_an_authorization_header_wins_over_the_cookie(http, api: Api, console_server):
    cookie_session(http, console_server.admin_token)
    vendor_token = api.vendor("acme", "Acme", scopes=("catalog:read",))
    whoami = http.get("/api/whoami", headers={"Authorization": f"Bearer {vendor_token}"})
    assert whoami.json()["kind"] == "PRINCIPAL_KIND_VENDOR"
    assert "x-csrf-token" not in whoami.headers


def test_the_cookie_cannot_mint_a_session_whose_secret_a_script_could_read(http, console_server):
    cookie_session(http, console_server.admin_token)
    secret = http.cookies["mp_session"]
    minted = http.post("/api/auth/sessions", json={}, headers={"X-CSRF-Token": csrf_token(secret)})
    assert minted.status_code == 403
    assert "sign-in form" in minted.json()["message"]
    assert secret not in minted.text


def test_a_csrf_header_that_is_not_ascii_is_refused_not_a_server_error(http, console_server):
    cookie_session(http, console_server.admin_token)
    answer = http.post("/api/auth/sessions:end", json={}, headers={"X-CSRF-Token": "caf\u00e9".encode("latin-1")})
    assert answer.status_code == 403


def test_over_https_only_the_host_prefixed_cookie_counts():
    from starlette.datastructures import Headers

    from mlmp_server.console.sessions import _session_cookie

    planted = Headers({"cookie": "mp_session=" + "a" * 40})
    assert _session_cookie(planted, secure=True) is None
    assert _session_cookie(planted, secure=False) == "a" * 40
    proper = Headers({"cookie": "__Host-mp_session=" + "b" * 40 + "; mp_session=" + "a" * 40})
    assert _session_cookie(proper, secure=True) == "b" * 40


def test_revoking_a_token_ends_the_sessions_signed_in_with_it(http, api: Api):
    token = api.vendor("leaky", "Leaky Ltd")
    cookie_session(http, token)
    assert http.get("/api/whoami").status_code == 200
    token_id = api.call("GET", "/api/whoami", token=token)["tokenId"]
    api.call("POST", f"/api/admin/tokens/{token_id}:revoke", {})
    assert http.get("/api/whoami").status_code == 401  # the session died with the token it came from
    listed = api.call("GET", "/api/admin/tokens?includeRevoked=true")["tokens"]
    assert [t["displayName"] for t in listed if t.get("parentTokenId") == token_id] == ["web session"]
