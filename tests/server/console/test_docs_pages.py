"""The console's docs pages in real Chromium: the quickstart from the README, the CLI reference from the
click commands, the API reference from /openapi.json with a "try it" form that calls the API with the
signed-in session (CSRF header on writes) and shows the answer or the error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers.console import Api, sign_in

pytestmark = pytest.mark.e2e

SHOTS = os.environ.get("MP_DOCS_SCREENSHOTS")  # a folder: the tests also save what the pages look like


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"docs-{name}.png"), full_page=False)


def test_the_quickstart_shows_the_readmes_vendor_path(console_server, watched):
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token)
    page.goto(console_server.http_url + "/marketplace/docs")
    page.wait_for_selector("#quickstart pre")
    commands = "\n".join(page.locator("#quickstart pre").all_text_contents())
    for step in ("mp login --api-url", "mp init --template", "mp train start", "mp deploy", "mp signals tail"):
        assert step in commands
    assert page.locator("#nav a[data-section=docs]").get_attribute("aria-current") == "page"
    assert page.locator("#quickstart code", has_text="mp.yaml").count() >= 1  # `code` spans as elements
    shot(page, "quickstart")
    assert watched.errors == []
    assert watched.dialogs == []


def test_the_cli_reference_lists_mp_data_pull_with_its_options_and_filters(console_server, watched):
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token)
    page.goto(console_server.http_url + "/marketplace/docs/cli")
    pull = page.locator("section[data-command='mp data pull']")
    pull.wait_for()
    assert pull.locator(".usage").text_content() == "mp data pull [OPTIONS]"
    options = pull.locator("table.options td.mono").all_text_contents()
    assert {"--round TEXT", "--dest DIRECTORY", "--parallel INTEGER RANGE", "--json"} <= set(options)
    assert "mp data pull --round current" in pull.locator(".help-text").first.text_content()
    page.fill("#cli-filter", "limit-rate")
    visible = [s.get_attribute("data-command") for s in page.locator("#cli-commands section:visible").all()]
    assert visible == ["mp data pull"]
    page.fill("#cli-filter", "")
    page.click("#cli-index a:text-is('mp deploy')")
    assert page.url.endswith("/marketplace/docs/cli")  # the index scrolls; the page is not redrawn
    shot(page, "cli")
    assert watched.errors == []
    assert watched.dialogs == []


def test_the_api_reference_shows_list_catalog_with_its_scopes_and_tries_it(console_server, api: Api, watched):
    api.vendor("acme", "Acme Quant")
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token)
    page.goto(console_server.http_url + "/marketplace/docs/api")
    catalog = page.locator("section[data-operation=CatalogService_ListCatalog]")
    catalog.wait_for()
    assert catalog.locator(".rest-path").text_content() == "/api/catalog"
    assert catalog.locator(".verb").text_content() == "GET"
    assert catalog.locator(".access").get_attribute("data-scopes") == "catalog:read"
    assert "admin, vendor, service" in catalog.locator(".access").text_content()
    assert "Lists vendors with their models" in catalog.text_content()  # the proto comment
    assert "Vendors per page" in catalog.locator("table.fields").text_content()  # a field's comment
    catalog.locator(".try-it summary").click()
    catalog.locator("#CatalogService_ListCatalog-pageSize").fill("5")
    catalog.locator("button[type=submit]").click()
    output = catalog.locator("#CatalogService_ListCatalog-output[data-outcome=ok]")
    output.wait_for()
    answer = json.loads(output.text_content())
    assert [entry["vendor"]["slug"] for entry in answer["entries"]] == ["acme"]
    shot(page, "api")
    assert watched.errors == []
    assert watched.dialogs == []


def test_try_it_writes_with_the_csrf_header_and_shows_errors(console_server, api: Api, watched):
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token)
    page.goto(console_server.http_url + "/marketplace/docs/api")
    create = page.locator("section[data-operation=AuthService_CreateVendor]")
    create.wait_for()
    create.locator(".try-it summary").click()
    body = create.locator("#AuthService_CreateVendor-body")
    output = create.locator("#AuthService_CreateVendor-output")
    body.fill('{"slug": "kite", "displayName": "Kite <b>Labs</b>"}')
    create.locator("button[type=submit]").click()
    page.locator("#AuthService_CreateVendor-output[data-outcome=ok]").wait_for()
    assert json.loads(output.text_content())["displayName"] == "Kite <b>Labs</b>"
    assert [v["slug"] for v in api.call("GET", "/api/admin/vendors")["vendors"]] == ["kite"]
    body.fill('{"slug": "kite", "displayName": "Again"}')
    create.locator("button[type=submit]").click()
    page.locator("#AuthService_CreateVendor-output[data-outcome=error]").wait_for()
    assert output.text_content().startswith("409")
    body.fill("{not json")
    create.locator("button[type=submit]").click()
    assert output.text_content().startswith("The body is not JSON")
    assert page.locator("b").count() == 0  # the answer is text, never markup
    assert watched.dialogs == []


def test_the_docs_are_open_before_signing_in_and_try_it_then_answers_401(console_server, watched):
    page = watched.page
    page.goto(console_server.http_url + "/marketplace")
    page.click(".signin a:text-is('quickstart')")
    page.wait_for_selector("#quickstart pre")
    page.click(".docs-tabs >> text=API reference")
    page.wait_for_selector("#api-signed-out")
    whoami = page.locator("section[data-operation=AuthService_WhoAmI]")
    whoami.locator(".try-it summary").click()
    whoami.locator("button[type=submit]").click()
    page.wait_for_selector("#AuthService_WhoAmI-output[data-outcome=error]")
    assert whoami.locator("pre.try-output").text_content().startswith("401")
    page.click("#nav >> text=Catalog")
    page.wait_for_selector("#token")  # every other page still asks for a token
    assert page.locator("#sign-out").count() == 0
