"""Registration and suspension in the console, in real Chromium against a real server: the operator's
invitation link, the invitee's registration (token shown once, signed in), a used link refused, and a
suspended vendor's session refused at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture says why: a skip, or a failure when MP_REQUIRE_BROWSER=1
    expect = None

from tests.helpers.console import Api, sign_in

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def other_browser(browser: Any) -> Iterator[Any]:
    """A second person's browser: its own cookies. Records every request it sends."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.sent = []  # type: ignore[attr-defined]
    page.on("request", lambda request: page.sent.append((request.url, request.headers.get("referer", ""))))
    yield page
    context.close()


def register(page: Any, link: str, slug: str, display_name: str) -> None:
    page.goto(link)
    page.fill("#invite-slug", slug)
    page.fill("#invite-name", display_name)
    page.click("#invite-form button[type=submit]")


def test_an_invitee_registers_from_the_link_sees_the_token_once_and_is_signed_in(
    console_server, watched, other_browser
):
    operator = watched.page
    sign_in(operator, console_server.http_url, console_server.admin_token, "/marketplace/admin")
    operator.click("#invite-vendor")
    link = operator.locator("#invite-link").text_content()
    assert link.startswith(console_server.http_url + "/marketplace/invite#mpiv_")
    code = link.split("#", 1)[1]
    operator.click("#admin-dialog button:has-text('Done')")
    expect(operator.locator("#invite-link")).to_have_count(0)  # shown once

    invitee = other_browser
    register(invitee, link, "newco", HOSTILE)
    token = invitee.locator("#invite-token").text_content()
    assert token.startswith("mpat_")
    expect(invitee.locator("h1")).to_have_text(f"Welcome, {HOSTILE}")  # text, never markup
    expect(invitee.locator(".who-name")).to_have_text(HOSTILE)  # signed in
    assert "#" not in invitee.url  # the code left the address bar at once
    session = [c for c in invitee.context.cookies() if c["name"] == "mp_session"]
    assert len(session) == 1
    assert session[0]["httpOnly"]
    assert session[0]["value"] != token  # a session of its own, as signing in makes
    invitee.click("#invite-continue")
    invitee.wait_for_selector("#nav a[data-section=deployments]:not([hidden])")
    assert token not in invitee.content()
    whoami = httpx.get(console_server.http_url + "/api/whoami", headers={"Authorization": f"Bearer {token}"})
    assert whoami.json()["vendor"]["slug"] == "newco"
    # The code went to the server in one request body only: never in a URL or a Referer.
    assert [sent for sent in invitee.sent if code in sent[0] or code in sent[1]] == []

    # The same link a second time, in yet another browser: refused, saying why.
    second = invitee.context.browser.new_context().new_page()
    register(second, link, "second", "Second")
    expect(second.locator("#invite-problem")).to_contain_text("already used")
    expect(second.locator("#invite-form button[type=submit]")).to_be_disabled()
    second.context.close()
    assert watched.dialogs == []


def test_a_link_without_its_code_says_so(console_server, watched):
    page = watched.page
    page.goto(console_server.http_url + "/marketplace/invite")
    expect(page.locator("h1")).to_have_text("This invitation link is incomplete")
    assert watched.errors == []


def test_suspending_a_vendor_signs_its_session_out_and_resuming_lets_it_back(
    console_server, api: Api, watched, other_browser
):
    vendor = other_browser
    sign_in(vendor, console_server.http_url, api.vendor("acme", "Acme Quant", ("deploy:write",)),
            "/marketplace/deployments")  # fmt: skip
    (session,) = [c["value"] for c in vendor.context.cookies() if c["name"] == "mp_session"]

    operator = watched.page
    sign_in(operator, console_server.http_url, console_server.admin_token, "/marketplace/admin")
    row = operator.locator("#vendor-rows tr[data-vendor=acme]")
    row.locator("button:has-text('Suspend')").click()
    expect(operator.locator("#admin-dialog")).to_contain_text("Nothing is deleted")
    operator.click("#confirm-suspend")
    expect(row.locator("td").nth(4)).to_contain_text("suspended")

    refused = httpx.get(console_server.http_url + "/api/whoami", headers={"Authorization": f"Bearer {session}"})
    assert refused.status_code == 401
    vendor.reload()
    vendor.wait_for_selector("#token")  # signed out: the cookie was refused and cleared
    assert [c for c in vendor.context.cookies() if c["name"] == "mp_session" and c["value"]] == []

    row.locator("button:has-text('Resume')").click()
    operator.click("#confirm-resume")
    expect(row.locator("td").nth(4)).to_have_text("active")
    assert watched.dialogs == []
    assert watched.errors == []
