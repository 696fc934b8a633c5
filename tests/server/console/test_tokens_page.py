"""The vendor's Tokens page in real Chromium: create a token with a subset of the session's scopes (the secret
shown once), use it, revoke it, and it is refused at once; offered only to vendor tokens that manage tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture says why: a skip, or a failure when MP_REQUIRE_BROWSER=1
    expect = None

from tests.helpers.console import Api, sign_in

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


def whoami(base: str, secret: str) -> httpx.Response:
    return httpx.get(base + "/api/whoami", headers={"Authorization": f"Bearer {secret}"}, timeout=10)


def test_a_vendor_creates_uses_and_revokes_its_own_token(console_server, api: Api, watched, tmp_path):
    base = console_server.http_url
    manager = api.vendor("acme", "Acme Quant", scopes=("catalog:read", "deploy:write", "tokens:write"))
    page = watched.page
    sign_in(page, base, manager, "/marketplace/tokens")
    expect(page.locator("#nav [data-section=tokens]")).to_be_visible()
    expect(page.locator("#token-rows tr[data-token]")).to_have_count(2)  # the signed-in token and this session
    expect(page.locator("#token-rows .tag", has_text="this session")).to_have_count(1)

    page.click("#new-token")
    offered = sorted(page.locator("#token-form input[type=checkbox]").evaluate_all("boxes => boxes.map(b => b.value)"))
    assert offered == ["catalog:read", "deploy:read", "deploy:write", "tokens:read", "tokens:write"]  # never more
    page.fill("#token-name", HOSTILE)
    page.screenshot(path=str(tmp_path / "tokens-new.png"))
    page.check("#scope-catalog-read")
    page.check("#scope-deploy-read")
    page.click("#create-token")
    secret = page.locator("#new-token-secret").text_content()
    assert secret
    assert secret.startswith("mpat_")
    expect(page.locator("#tokens-dialog .warning")).to_contain_text("only time it is shown")
    page.screenshot(path=str(tmp_path / "tokens-secret.png"))  # to look at: pytest keeps recent tmp_paths
    page.click("#tokens-dialog button:has-text('Done')")
    expect(page.locator("#new-token-secret")).to_have_count(0)
    assert secret not in page.content()  # shown once: gone with the dialog

    used = whoami(base, secret)
    assert used.status_code == 200
    assert sorted(used.json()["scopes"]) == ["catalog:read", "deploy:read"]
    row = page.locator("#token-rows tr", has_text=HOSTILE)  # the name shown as text, never run
    expect(row).to_have_count(1)
    expect(row.locator(".chips li")).to_have_text(["catalog:read", "deploy:read"])
    page.screenshot(path=str(tmp_path / "tokens.png"), full_page=True)

    row.locator("button:has-text('Revoke')").click()
    page.click("#tokens-dialog button:has-text('Cancel')")
    assert whoami(base, secret).status_code == 200
    row.locator("button:has-text('Revoke')").click()
    page.click("#confirm-revoke")
    expect(row).to_have_count(0)
    assert whoami(base, secret).status_code == 401  # refused at once
    page.check("#show-revoked")
    expect(page.locator("#token-rows tr.revoked", has_text=HOSTILE)).to_have_count(1)
    assert watched.dialogs == []
    assert watched.errors == []


def test_a_token_past_the_session_needs_the_persons_own_token(console_server, api: Api, watched):
    base = console_server.http_url
    manager = api.vendor("acme", "Acme Quant", scopes=("catalog:read", "tokens:write"))
    page = watched.page
    sign_in(page, base, manager, "/marketplace/tokens")
    page.click("#new-token")
    page.check("#scope-catalog-read")
    page.select_option("#token-ttl", label="30 days")
    page.click("#create-token")
    expect(page.locator("#token-form-problem")).to_have_text("Paste your token to confirm.")
    page.fill("#confirm-token", "mpat_wrong")
    page.click("#create-token")
    expect(page.locator("#token-form-problem")).not_to_be_empty()
    expect(page.locator("#sign-out")).to_be_visible()  # a wrong token does not end the session
    page.fill("#confirm-token", manager)
    page.click("#create-token")
    secret = page.locator("#new-token-secret").text_content()
    assert secret
    created = whoami(base, secret).json()["tokenId"]
    listed = httpx.get(base + "/api/tokens", headers={"Authorization": f"Bearer {manager}"}, timeout=10).json()
    made = next(token for token in listed["tokens"] if token["id"] == created)
    expires = datetime.fromisoformat(made["expireTime"].replace("Z", "+00:00"))
    assert expires - datetime.now(UTC) > timedelta(days=29)  # well past the 8-hour session
    assert manager not in page.content()
    # The refused confirmation is a 401 the browser logs; nothing else may go wrong.
    assert [error for error in watched.errors if "401" not in error] == []


def test_the_tokens_page_is_offered_only_to_vendor_tokens_that_manage_tokens(console_server, api: Api, watched):
    reader = api.vendor("acme", "Acme Quant", scopes=("catalog:read",))
    page = watched.page
    sign_in(page, console_server.http_url, reader)
    assert page.locator("#nav [data-section=tokens]").is_hidden()
    page.click("#sign-out")
    page.wait_for_selector("#token")
    sign_in(page, console_server.http_url, console_server.admin_token)
    assert page.locator("#nav [data-section=tokens]").is_hidden()  # operators use the Operator page
    assert watched.errors == []
