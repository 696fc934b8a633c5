"""Operator round actions in real Chromium against a real server: publish a round from two CSV files picked in
the browser, close it after a confirmation, resolve it from a returns file; the round shows resolved and the
model that signalled in it gets its score."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture says why: a skip, or a failure when MP_REQUIRE_BROWSER=1
    expect = None

from tests.helpers.console import Api, sign_in
from tests.helpers.rounds import price_csv

pytestmark = pytest.mark.e2e

SHOTS = os.environ.get("MP_SCREENSHOTS")  # a folder: the test saves what it saw there


def csv_file(name: str, text: str) -> dict:
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode()}


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_publish_from_two_csvs_close_and_resolve_in_the_browser(console_server, api: Api, watched):
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token, "/marketplace/rounds")
    page.click("#publish-panel summary")

    # A bad cell: the server's words name the file, line and column; nothing is published.
    bad = price_csv(1).replace(",102.4,103.4,", ",102.4,abc,", 1)
    page.set_input_files("#publish-files", [csv_file("AAPL.csv", price_csv(0)), csv_file("MSFT.csv", bad)])
    expect(page.locator("#publish-preview-rows tr")).to_have_count(2)
    page.click("#publish-submit")
    expect(page.locator("#publish-problem")).to_have_text(
        "MSFT.csv line 5, column Close: 'abc' is not a number. Nothing was published.", timeout=60_000
    )
    assert [r["number"] for r in api.call("GET", "/api/rounds")["rounds"]] == [1]

    page.set_input_files("#publish-files", [csv_file("AAPL.csv", price_csv(0)), csv_file("MSFT.csv", price_csv(1))])
    rows = page.locator("#publish-preview-rows tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("AAPL")
    expect(rows.nth(0)).to_contain_text("120")  # bars
    expect(rows.nth(1)).to_contain_text("2026-05-08")  # the last bar
    page.fill("#publish-opens", "2026-01-01T00:00")
    page.fill("#publish-closes", "2099-01-11T00:00")
    expect(page.locator("#publish-window")).to_contain_text("Opens 2026-01-01")
    page.fill("#publish-closes", "2025-01-01T00:00")
    expect(page.locator("#publish-problem")).to_have_text("The round would close before it opens.")
    expect(page.locator("#publish-submit")).to_be_disabled()
    page.fill("#publish-closes", "")
    expect(page.locator("#publish-window")).to_contain_text("(7 days)")
    page.fill("#publish-closes", "2099-01-11T00:00")
    page.fill("#publish-description", "AAPL and MSFT, daily")
    shot(page, "rounds-publish")
    page.click("#publish-submit")
    page.wait_for_url(re.compile(r"/marketplace/rounds/2$"), timeout=60_000)
    expect(page.locator("#pull-command")).to_have_text("mp data pull --round 2")
    expect(page.locator("table.files tbody tr")).to_have_count(3)
    expect(page.locator("h1 .pill")).to_have_text("open")

    # A model signals in round 2; resolving the round scores it.
    _, deployment_token = api.deployment(api.vendor("acme", "Acme Quant"), "Momentum")
    api.store_signal(deployment_token, "AAPL", score=0.8, roundNumber=2)
    api.store_signal(deployment_token, "MSFT", score=-0.4, roundNumber=2)

    page.click("#close-round")
    page.click("#confirm-close")
    expect(page.locator("h1 .pill")).to_have_text("closed")
    expect(page.locator("#close-round")).to_have_count(0)

    page.set_input_files("#returns-file", [csv_file("returns.csv", "symbol,realized_return\nAAPL,x\n")])
    expect(page.locator("#round-action-problem")).to_have_text('returns.csv line 2: "x" is not a number')
    page.set_input_files(
        "#returns-file", [csv_file("returns.csv", "symbol,realized_return\nAAPL,0.031\nMSFT,-0.012\n")]
    )
    expect(page.locator("#returns-rows tr")).to_have_count(2)
    expect(page.locator("#round-action-problem")).to_be_empty()
    shot(page, "round-resolve")
    page.click("#resolve-round")
    expect(page.locator("h1 .pill")).to_have_text("resolved")
    expect(page.locator("#round-actions")).to_contain_text("live scores include it")
    shot(page, "round-resolved")

    page.click("#nav >> text=Catalog")
    score = page.locator(".vendor[data-vendor=acme] .models tbody tr").first
    expect(score).to_contain_text("1.000")
    expect(score).to_contain_text("1 round")
    # The one refused upload, as Chromium logs it; nothing else went wrong on the page.
    assert watched.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    assert watched.dialogs == []


def test_a_resolve_the_server_refuses_shows_its_reason(console_server, api: Api, watched):
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token, "/marketplace/rounds/1")
    page.wait_for_selector("#resolve-form")
    symbols = api.call("GET", "/api/rounds/1")["symbols"]
    rows = "".join(f"{symbol},0.01\n" for symbol in symbols) + "NOPE,0.02\n"
    page.set_input_files("#returns-file", [csv_file("returns.csv", "symbol,realized_return\n" + rows)])
    page.click("#resolve-round")
    expect(page.locator("#round-action-problem")).to_have_text("not symbols of round 1: NOPE")
    expect(page.locator("h1 .pill")).to_have_text("open")


def test_vendors_see_no_operator_actions(console_server, api: Api, watched):
    token = api.vendor("acme", "Acme Quant", ("data:read",))
    page = watched.page
    sign_in(page, console_server.http_url, token, "/marketplace/rounds/1")
    page.wait_for_selector("#pull-command")
    expect(page.locator("#round-actions")).to_have_count(0)
    page.click("#nav >> text=Rounds")
    page.wait_for_selector("#rounds-rows a")
    expect(page.locator("#publish-form")).to_have_count(0)
