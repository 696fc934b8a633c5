"""Issue 12's promise end to end: a real local deployment (`mp init`, `mp train start`, `mp deploy` through the
real CLI against a real `mp-server` process) streams signals that appear on the console's live page, in real
Chromium, with the vendor's display name, the model and the run in their badge."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture says why: a skip, or a failure when MP_REQUIRE_BROWSER=1
    expect = None

from tests.helpers.console import sign_in
from tests.helpers.processes import ServerProcess, mp_in, start_server
from tests.helpers.projects import trained_project

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    process = start_server("", tmp_path / "data")  # SQLite in the data directory
    yield process
    process.stop()


def ended(pid: int) -> bool:
    """Gone, or a zombie waiting for a parent that is not this test."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_a_real_local_deployments_signals_appear_live_with_their_badge(server_process, tmp_path, watched):
    folder, env, _ = trained_project(server_process, tmp_path, "acme", "Acme Quant")
    page = watched.page
    sign_in(page, server_process.api_url, server_process.admin_token, "/marketplace/live")
    page.wait_for_selector("#live-status[data-state=live]")

    deployed = mp_in(folder, env, "deploy", "--name", "Momentum", "--signal-interval", "0.5", "--json")
    assert deployed.returncode == 0, deployed.stderr
    deployment = json.loads(deployed.stdout)
    pid = int(deployment["externalId"].removeprefix("pid:"))
    try:
        row = page.locator("#live-rows tr").first
        expect(row).to_be_visible(timeout=30_000)
        badge = row.locator(".badge")
        expect(badge.locator(".badge-vendor")).to_have_text("Acme Quant")
        expect(badge.locator(".badge-model")).to_have_text("Momentum")  # the name, once the catalog answers
        run_id = deployment["runId"]
        assert run_id
        expect(badge.locator(".badge-run")).to_have_text(f"run {run_id[:12]}…" if len(run_id) > 14 else f"run {run_id}")
        assert f"deployment {deployment['id']}" in badge.get_attribute("title")
        seen = page.locator("#live-rows tr").count()
        page.wait_for_function(  # the next batches arrive too: the page follows the deployment live
            "seen => document.querySelectorAll('#live-rows tr').length > seen", arg=seen, timeout=15_000
        )
        if shots := os.environ.get("MP_SCREENSHOTS"):
            page.screenshot(path=str(Path(shots) / "live-deployment.png"))
    finally:
        stopped = mp_in(folder, env, "deployments", "stop", deployment["id"])
        assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 10
    while not ended(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ended(pid), f"the deployment's process {pid} still runs"
    assert watched.errors == []
