"""axe-core (tests/server/console/package.json, `npm ci --prefix tests/server/console`) over every console page:
no serious or critical issue. The rules are injected into the page, so this context sets the CSP
aside; the policy itself is tested in test_pages.py and test_assets.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import REQUIRE_BROWSER
from tests.helpers.console import Api, sign_in

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
RUN_AXE = """async () => {
  const tags = ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"];
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.filter((v) => ["serious", "critical"].includes(v.impact))
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
}"""


@pytest.fixture
def audited(browser: Any) -> Iterator[Any]:
    if not AXE.exists():
        reason = f"axe-core is not installed ({AXE}); run `npm ci --prefix tests/server/console`"
        if REQUIRE_BROWSER:
            pytest.fail(f"MP_REQUIRE_BROWSER=1, but {reason}")
        pytest.skip(reason)
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE)


def test_every_page_has_no_serious_accessibility_issue(console_server, api: Api, audited):
    _, deployment_token = api.deployment(api.vendor("acme", "Acme Quant"), "Momentum")
    page = audited
    page.goto(console_server.http_url + "/marketplace")
    page.wait_for_selector("#token")
    found = {"sign-in": violations(page)}
    sign_in(page, console_server.http_url, console_server.admin_token)
    page.wait_for_selector(".vendor")
    found["catalog"] = violations(page)
    page.click(".vendor .models a")
    page.wait_for_selector("#model-badge")
    found["model"] = violations(page)
    page.click("#nav >> text=Live signals")
    page.wait_for_selector("#live-status[data-state=live]")
    api.store_signal(deployment_token, "SYNAAA")
    page.wait_for_selector("#live-rows tr")
    found["live"] = violations(page)
    page.click("#nav >> text=Rounds")
    page.wait_for_selector("#rounds-rows a")
    page.click("#publish-panel summary")  # the operator's publish form, open
    page.set_input_files("#publish-files", [{"name": "AAPL.csv", "mimeType": "text/csv", "buffer": b"Date,Close\n"}])
    page.wait_for_selector("#publish-preview-rows tr")
    found["rounds"] = violations(page)
    page.click("#rounds-rows a")
    page.wait_for_selector("#resolve-form")  # the operator's close and resolve actions
    found["round"] = violations(page)
    page.click("#close-round")
    page.wait_for_selector("#confirm-close")
    found["close dialog"] = violations(page)
    page.keyboard.press("Escape")
    page.click("#nav >> text=Deployments")
    page.wait_for_selector("#deployment-rows tr[data-deployment]")
    found["deployments"] = violations(page)
    page.click("#deployment-rows button:has-text('Delete')")
    page.wait_for_selector("#confirm-delete")
    found["delete dialog"] = violations(page)
    page.goto(console_server.http_url + "/marketplace/admin")
    page.wait_for_selector("#token-rows tr")
    found["operator"] = violations(page)
    page.click("#invite-vendor")
    page.wait_for_selector("#invite-link")
    found["invite dialog"] = violations(page)
    link = page.locator("#invite-link").text_content()
    page.click("#admin-dialog button:has-text('Done')")
    page.click("#vendor-rows tr[data-vendor=acme] button:has-text('Suspend')")
    page.wait_for_selector("#confirm-suspend")
    found["suspend dialog"] = violations(page)
    page.click("#admin-dialog button:has-text('Cancel')")
    run = api.call(
        "POST", "/api/training/runs", {"provider": "local"}, token=api.vendor("kite", "Kite", ("training:write",))
    )
    api.call("POST", f"/api/training/runs/{run['id']}/metrics", {"metrics": [{"key": "loss", "value": 1, "step": 1}]})
    page.goto(console_server.http_url + "/marketplace/runs")
    page.wait_for_selector("#run-rows a")
    found["runs"] = violations(page)
    page.click("#run-rows a")
    page.wait_for_selector("#run-charts figure")
    found["run"] = violations(page)
    page.goto(link)
    page.wait_for_selector("#invite-slug")
    found["invite"] = violations(page)
    page.fill("#invite-slug", "newco")
    page.fill("#invite-name", "New Co")
    page.click("#invite-form button[type=submit]")
    page.wait_for_selector("#invite-token")
    found["registered"] = violations(page)
    page.goto(console_server.http_url + "/marketplace")  # the invitation page is open to all: sign out elsewhere
    page.click("#sign-out")
    page.wait_for_selector("#token")
    sign_in(page, console_server.http_url, api.vendor("mint", "Mint", ("catalog:read", "tokens:write")),
            "/marketplace/tokens")  # fmt: skip
    page.wait_for_selector("#token-rows tr[data-token]")
    found["tokens"] = violations(page)
    page.click("#new-token")
    page.wait_for_selector("#token-form")
    found["new token dialog"] = violations(page)
    assert {name: issues for name, issues in found.items() if issues} == {}


def test_the_docs_pages_have_no_serious_accessibility_issue(console_server, audited):
    page = audited
    page.goto(console_server.http_url + "/marketplace/docs/api")  # open before signing in
    page.wait_for_selector("#api-signed-out")
    page.wait_for_selector("section[data-operation=CatalogService_ListCatalog]")
    signed_out = violations(page)
    sign_in(page, console_server.http_url, console_server.admin_token)
    page.goto(console_server.http_url + "/marketplace/docs")
    page.wait_for_selector("#quickstart pre")
    found = {"api reference, signed out": signed_out, "quickstart": violations(page)}
    page.click(".docs-tabs >> text=CLI reference")
    page.wait_for_selector("section[data-command='mp data pull']")
    found["cli reference"] = violations(page)
    page.click(".docs-tabs >> text=API reference")
    catalog = page.locator("section[data-operation=CatalogService_ListCatalog]")
    catalog.wait_for()
    catalog.locator(".try-it summary").click()
    catalog.locator("button[type=submit]").click()
    page.wait_for_selector("#CatalogService_ListCatalog-output[data-outcome=ok]")
    found["api reference"] = violations(page)
    assert {name: issues for name, issues in found.items() if issues} == {}
