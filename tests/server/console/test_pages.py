"""The console in real Chromium against a real server: what a person sees, and that nothing of
another tenant's data ever runs as code."""

from __future__ import annotations

import re
from dataclasses import replace

import grpc
import httpx
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture says why: a skip, or a failure when MP_REQUIRE_BROWSER=1
    expect = None

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc
from tests.helpers.auth import bearer
from tests.helpers.console import Api, sign_in
from tests.helpers.server_thread import ServerThread

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


def test_catalog_shows_vendors_created_through_the_api_hostile_names_as_text(console_server, api: Api, watched):
    api.vendor("acme", "Acme Quant")
    token = api.vendor("evil", HOSTILE)
    api.deployment(token, "<script>alert(2)</script>")
    page = watched.page
    response = sign_in(page, console_server.http_url, console_server.admin_token)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    page.wait_for_selector(".vendor")
    names = page.locator(".vendor-name").all_text_contents()
    assert sorted(names) == sorted(["Acme Quant", HOSTILE])
    assert page.locator(".vendor[data-vendor=evil] .model-name").text_content() == "<script>alert(2)</script>"
    assert page.locator("#catalog-list img").count() == 0
    assert page.locator("#catalog-list script").count() == 0
    page.fill("#catalog-search", "acme")
    expect(page.locator(".vendor-name")).to_have_text(["Acme Quant"])
    assert watched.dialogs == []
    assert watched.errors == []


def test_catalog_of_1000_vendors_pages_searches_and_sorts_on_the_server(console_server, watched):
    with grpc.insecure_channel(console_server.grpc_target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        for number in range(1000):
            request = auth_pb2.CreateVendorRequest(slug=f"vendor-{number:04d}", display_name=f"Vendor {number:04d}")
            auth.CreateVendor(request, metadata=bearer(console_server.admin_token))
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token)
    expect(page.locator(".vendor")).to_have_count(50)
    page.click("#catalog-more")
    expect(page.locator(".vendor")).to_have_count(100)
    page.fill("#catalog-search", "vendor 0999")  # on the last page of the listing order
    expect(page.locator(".vendor-name")).to_have_text(["Vendor 0999"])
    assert page.locator("#catalog-more").is_hidden()
    page.fill("#catalog-search", "")
    page.select_option("#catalog-sort", "CATALOG_ORDER_NAME")
    expect(page.locator(".vendor-name").first).to_have_text("Vendor 0000")
    page.select_option("#catalog-state", "DEPLOYMENT_STATE_LIVE")
    expect(page.locator("#catalog-list .empty")).to_have_text("No vendor matches these filters.")
    assert watched.errors == []


def test_sign_in_keeps_the_session_in_an_httponly_cookie_and_the_token_nowhere(console_server, watched):
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token)
    assert page.locator(".who-name").text_content() == "Operator"
    (session,) = [cookie for cookie in page.context.cookies() if cookie["name"] == "mp_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["value"] != console_server.admin_token  # a session token of its own, at most 8 hours
    assert page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, "mp_signed_in=1"]
    assert console_server.admin_token not in page.content()
    page.reload()
    page.wait_for_selector("#sign-out")  # the session outlives the page
    assert watched.errors == []


def test_sign_out_ends_the_session_on_the_server(console_server, watched):
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token)
    (session,) = [cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "mp_session"]
    page.click("#sign-out")
    page.wait_for_selector("#token")
    assert [cookie for cookie in page.context.cookies() if cookie["value"]] == []
    revoked = httpx.get(console_server.http_url + "/api/whoami", headers={"Authorization": f"Bearer {session}"})
    assert revoked.status_code == 401
    page.goto(console_server.http_url + "/marketplace/live")
    page.wait_for_selector("#token")
    assert watched.errors == []


def test_a_wrong_token_is_refused_with_a_message(console_server, watched):
    page = watched.page
    page.goto(console_server.http_url + "/marketplace")
    page.fill("#token", "mp_not_a_real_token")
    page.click(".signin-form button[type=submit]")
    page.wait_for_selector(".form-error:has-text('not valid')")
    # The refused whoami is the one console error a browser logs for a 401.
    assert all("401" in error for error in watched.errors)


def test_live_page_shows_an_ingested_signal_with_its_badge(console_server, api: Api, watched):
    vendor_token = api.vendor("evil", HOSTILE)
    deployment_id, deployment_token = api.deployment(vendor_token, "Momentum v2")
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token, "/marketplace/live")
    page.wait_for_selector("#live-status[data-state=live]")
    api.store_signal(deployment_token, "SYNAAA")
    row = page.locator("#live-rows tr").first
    row.wait_for()
    assert row.locator(".symbol").text_content() == "SYNAAA"
    assert row.locator(".badge-vendor").text_content() == HOSTILE
    page.wait_for_selector("#live-rows .badge-model:has-text('Momentum v2')")
    assert row.locator(".pill").text_content() == "buy"
    assert page.locator("#live-rows img").count() == 0
    assert watched.dialogs == []
    assert watched.errors == []


def test_live_page_filters_by_symbol_and_pauses(console_server, api: Api, watched):
    vendor_token = api.vendor("acme", "Acme Quant")
    _, deployment_token = api.deployment(vendor_token, "Mean reversion")
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token, "/marketplace/live")
    page.fill("#live-symbol", "SYNBBB")
    page.press("#live-symbol", "Enter")
    page.wait_for_selector("#live-status[data-state=live]")
    api.store_signal(deployment_token, "SYNAAA")
    api.store_signal(deployment_token, "SYNBBB")
    page.wait_for_selector("#live-rows tr")
    page.click("#live-pause")
    api.store_signal(deployment_token, "SYNBBB", score=-0.5)
    page.wait_for_selector("#live-pause:has-text('1 new')")
    assert page.locator("#live-rows tr").count() == 1
    page.click("#live-pause")
    expect(page.locator("#live-rows tr")).to_have_count(2)
    assert page.locator("#live-rows .symbol").all_text_contents() == ["SYNBBB", "SYNBBB"]
    assert watched.errors == []


def test_live_page_survives_a_server_restart_without_gaps(console_settings, watched):
    first = ServerThread(console_settings).start()
    assert first.listening is not None
    ports = first.listening.grpc_port, first.listening.http_port
    api = Api(first.http_url, first.admin_token)
    vendor_token = api.vendor("acme", "Acme Quant")
    _, deployment_token = api.deployment(vendor_token, "Carry")
    page = watched.page
    sign_in(page, first.http_url, first.admin_token, "/marketplace/live")
    page.wait_for_selector("#live-status[data-state=live]")
    api.store_signal(deployment_token, "SYNAAA")
    page.wait_for_selector("#live-rows .symbol:has-text('SYNAAA')")
    # Keep the page from resubscribing until a signal was stored while it was away.
    subscribe = re.compile(r"/api/signals:subscribe")
    page.route(subscribe, lambda route: route.abort())
    first.stop()
    page.wait_for_selector("#live-status[data-state=reconnecting]")
    second = ServerThread(console_settings)
    second.settings = replace(second.settings, grpc_addr=f"127.0.0.1:{ports[0]}", http_addr=f"127.0.0.1:{ports[1]}")
    second.start()
    try:
        api.store_signal(deployment_token, "SYNBBB")  # stored while the page is disconnected
        page.unroute(subscribe)
        page.wait_for_selector("#live-status[data-state=live]", timeout=20_000)
        api.store_signal(deployment_token, "SYNCCC")
        expect(page.locator("#live-rows tr")).to_have_count(3)
        assert page.locator("#live-rows .symbol").all_text_contents() == ["SYNCCC", "SYNBBB", "SYNAAA"]
    finally:
        second.stop()
    # Only the refused reconnects while the server was down may have been logged.
    assert all("ERR_" in error or "Failed to load" in error for error in watched.errors), watched.errors


def test_round_page_shows_files_and_a_copyable_pull_command(console_server, watched):
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token, "/marketplace/rounds")
    page.click("#rounds-rows a:has-text('#1')")
    page.wait_for_selector("#pull-command")
    assert page.locator("#pull-command").text_content() == "mp data pull --round 1"
    assert page.url.endswith("/marketplace/rounds/1")
    shas = page.locator(".files .sha code").all_text_contents()
    assert len(shas) == 3
    assert all(re.fullmatch(r"[0-9a-f]{64}", sha) for sha in shas)
    assert watched.errors == []


def test_a_vendor_stops_starts_rotates_and_deletes_a_deployment(console_server, api: Api, watched):
    vendor_token = api.vendor("acme", "Acme Quant", scopes=("deploy:write", "catalog:read"))
    deployment_id, old_token = api.deployment(vendor_token, "Momentum")
    page = watched.page
    sign_in(page, console_server.http_url, vendor_token, "/marketplace/deployments")
    row = page.locator(f"#deployment-rows tr[data-deployment={deployment_id}]")
    expect(row.locator(".pill")).to_have_text("pending")
    row.locator("button:has-text('Stop')").click()
    expect(row.locator(".pill")).to_have_text("stopped")
    row.locator("button:has-text('Start')").click()
    expect(row.locator(".pill")).to_have_text("starting")

    row.locator("button:has-text('Rotate token')").click()
    new_token = page.locator("#rotated-token").text_content()
    assert new_token
    assert new_token.startswith("mpdt_")
    page.click("#deployment-dialog button:has-text('Done')")
    expect(page.locator("#rotated-token")).to_have_count(0)
    assert new_token not in page.content()  # shown once: gone with the dialog
    refused = httpx.post(console_server.http_url + "/api/signals/store", json={"signals": []},
                         headers={"Authorization": f"Bearer {old_token}"})  # fmt: skip
    assert refused.status_code == 401
    api.store_signal(new_token, "SYNAAA")

    row.locator("button:has-text('Delete')").click()
    page.click("#deployment-dialog button:has-text('Cancel')")
    expect(row).to_have_count(1)
    row.locator("button:has-text('Delete')").click()
    page.click("#confirm-delete")
    expect(row).to_have_count(0)
    gone = httpx.post(console_server.http_url + "/api/signals/store", json={"signals": []},
                      headers={"Authorization": f"Bearer {new_token}"})  # fmt: skip
    assert gone.status_code == 401
    assert watched.errors == []


def test_the_deployments_page_is_offered_only_to_tokens_that_may_read_them(console_server, api: Api, watched):
    reader = api.vendor("acme", "Acme Quant", scopes=("catalog:read",))
    page = watched.page
    sign_in(page, console_server.http_url, reader)
    assert page.locator("#nav [data-section=deployments]").is_hidden()
    page.click("#sign-out")
    page.wait_for_selector("#token")
    sign_in(page, console_server.http_url, console_server.admin_token)
    assert page.locator("#nav [data-section=deployments]").is_visible()
    assert watched.errors == []


def test_the_model_page_shows_its_maker_run_scores_and_signals(console_server, api: Api, watched):
    vendor_token = api.vendor("acme", "Acme Quant", scopes=("deploy:write", "training:write"))
    run = api.call("POST", "/api/training/runs", {"provider": "local", "hyperparameters": {"l2": 0.5}},
                   token=vendor_token)  # fmt: skip
    for state in ("RUN_STATE_RUNNING", "RUN_STATE_SUCCEEDED"):
        api.call("POST", f"/api/training/runs/{run['id']}:transition", {"state": state}, token=vendor_token)
    created = api.call("POST", "/api/deployments", {"provider": "local", "name": "Momentum", "runId": run["id"]},
                       token=vendor_token)  # fmt: skip
    deployment_id, deployment_token = created["deployment"]["id"], created["token"]
    for symbol, view in [("SYNAAA", 0.8), ("SYNBBB", -0.4), ("SYNCCC", 0.1)]:
        api.store_signal(deployment_token, symbol, score=view)
    api.call("POST", "/api/admin/rounds/1:close", {})
    realised = {"SYNAAA": 0.03, "SYNBBB": -0.02, "SYNCCC": 0.0, "SYNDDD": 0.01, "SYNEEE": 0.01, "SYNFFF": 0.01}
    returns = [{"symbol": symbol, "realizedReturn": value} for symbol, value in realised.items()]
    api.call("POST", "/api/admin/rounds/1:resolve", {"returns": returns})
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token)
    page.click(".vendor[data-vendor=acme] a:has-text('Momentum')")
    page.wait_for_selector("#model-badge")
    assert page.url.endswith(f"/marketplace/vendors/acme/models/{deployment_id}")
    assert page.locator("#model-badge .badge-vendor").text_content() == "Acme Quant"
    assert page.locator("#model-badge .badge-run").text_content().startswith("run ")
    expect(page.locator("#model-scores .bar")).to_have_count(1)
    expect(page.locator("#model-signals tbody tr")).to_have_count(3)
    expect(page.locator("#model-run li")).to_contain_text(["l2 = 0.5"])
    page.click("#model-signals a:has-text('follow live')")
    expect(page.locator("#live-vendor")).to_have_value("acme")
    assert watched.errors == []


def test_an_operator_creates_a_vendor_and_a_token_shown_once_then_revokes_it(console_server, watched):
    page = watched.page
    sign_in(page, console_server.http_url, console_server.admin_token, "/marketplace/admin")
    page.fill("#vendor-slug", "acme")
    page.fill("#vendor-name", HOSTILE)
    page.click("#vendor-form button[type=submit]")
    expect(page.locator("#vendor-rows td").first).to_have_text(HOSTILE)
    page.fill("#token-vendor", "acme")
    page.fill("#token-name", "research desk")
    page.uncheck("#token-form input[value='deploy:write']")
    page.click("#token-form button[type=submit]")
    secret = page.locator("#new-token").text_content()
    assert secret
    page.click("#admin-dialog button:has-text('Done')")
    expect(page.locator("#new-token")).to_have_count(0)
    whoami = httpx.get(console_server.http_url + "/api/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert whoami.json()["vendor"]["slug"] == "acme"
    assert "deploy:write" not in whoami.json()["scopes"]
    assert "signals:read" in whoami.json()["scopes"]
    assert secret not in page.content()  # shown once: gone with the dialog
    row = page.locator("#token-rows tr", has_text="research desk")
    row.locator("button:has-text('Revoke')").click()
    page.click("#confirm-revoke")
    expect(row).to_have_count(0)
    revoked = httpx.get(console_server.http_url + "/api/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status_code == 401
    assert watched.dialogs == []
    assert watched.errors == []


def test_a_run_page_charts_its_metrics_and_follows_its_log_live(console_server, api: Api, watched):
    vendor_token = api.vendor("acme", "Acme Quant", scopes=("training:write",))
    run = api.call("POST", "/api/training/runs", {"provider": "local", "hyperparameters": {"l2": 0.5}},
                   token=vendor_token)  # fmt: skip
    run_path = f"/api/training/runs/{run['id']}"
    api.call("POST", run_path + ":transition", {"state": "RUN_STATE_RUNNING"}, token=vendor_token)
    api.call("POST", run_path + "/metrics", {"metrics": [{"key": "loss", "value": 0.9, "step": 1}]}, token=vendor_token)
    page = watched.page
    sign_in(page, console_server.http_url, vendor_token, "/marketplace/runs")
    page.click(f"#run-rows a:has-text('{run['id']}')")
    page.wait_for_selector("#run-status[data-state=live]")
    expect(page.locator("#run-charts figure[data-metric=loss]")).to_have_count(1)
    lines = {"lines": [{"stream": "stdout", "text": "epoch 2 <b>done</b>"}, {"stream": "stderr", "text": "warn"}]}
    api.call("POST", run_path + "/logs", lines, token=vendor_token)
    metrics = [{"key": "loss", "value": 0.4, "step": 2}, {"key": "ic", "value": 0.05, "step": 2}]
    api.call("POST", run_path + "/metrics", {"metrics": metrics}, token=vendor_token)
    expect(page.locator("#run-log")).to_contain_text("epoch 2 <b>done</b>")
    assert page.locator("#run-log b").count() == 0
    expect(page.locator("#run-charts figure")).to_have_count(2)
    expect(page.locator("#run-charts figure[data-metric=loss] figcaption")).to_contain_text("0.4")
    api.call("POST", run_path + ":transition", {"state": "RUN_STATE_SUCCEEDED"}, token=vendor_token)
    expect(page.locator("#run-status")).to_have_attribute("data-state", "stopped")
    expect(page.locator("h1 .pill")).to_have_text("succeeded")
    assert watched.errors == []
