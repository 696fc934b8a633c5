"""Screenshots of the console for the README, against a local server filled with a small market:
`python -m tests.helpers.screenshots [DIR]` (default docs/) writes console-catalog.png,
console-live.png, console-round.png, console-docs-api.png and more. Needs Chromium (tests/helpers/browser.py)."""

from __future__ import annotations

import random
import sys
import tempfile
import threading
from pathlib import Path

import grpc

from mlmp_marketplace.v1 import datasets_pb2_grpc
from mlmp_server.settings import Settings, default_database_url
from tests.helpers.auth import bearer
from tests.helpers.browser import chromium
from tests.helpers.console import Api, sign_in
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread

VENDORS = [
    ("northwind", "Northwind Capital", ["Momentum 20d", "Vol carry"]),
    ("acme", "Acme Quant", ["Mean reversion v3"]),
    ("tessellate", "Tessellate Research", ["Cross-asset trend", "Gradient boost v7", "Pairs (beta)"]),
    ("kestrel", "Kestrel Signals", ["Intraday breakout"]),
    ("bluefin", "Bluefin ML", []),
]
SYMBOLS = ["SYNAAA", "SYNBBB", "SYNCCC", "SYNDDD", "SYNEEE", "SYNFFF"]
ACTIONS = ["ACTION_BUY", "ACTION_SELL", "ACTION_HOLD"]


def fill(server: ServerThread, api: Api, rng: random.Random) -> list[str]:
    """Vendors, deployments and a round of signals, resolved so that models have live scores."""
    deployments, made = [], []
    for slug, name, models in VENDORS:
        vendor_token = api.vendor(slug, name)
        for model in models:
            deployment_id, token = api.deployment(vendor_token, model)
            deployments.append(token)
            made.append((vendor_token, deployment_id))
    for token in deployments:
        for symbol in SYMBOLS:
            api.store_signal(token, symbol, **signal_fields(rng))
    returns = [{"symbol": symbol, "realizedReturn": round(rng.uniform(-0.05, 0.05), 4)} for symbol in SYMBOLS]
    api.call("POST", "/api/admin/rounds/1:close", {})
    api.call("POST", "/api/admin/rounds/1:resolve", {"returns": returns})
    with grpc.insecure_channel(server.grpc_target) as channel:  # round 2, for the signals that follow
        datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(
            publish_request({"train": b"x"}, symbols=SYMBOLS, description="Round 2"), metadata=bearer(api.token)
        )
    # All live but two: one stopped, one still pending.
    for index, (vendor_token, deployment_id) in enumerate(made[:-1]):
        states = ["STARTING", "LIVE", "STOPPED"] if index == 3 else ["STARTING", "LIVE"]
        for state in states:
            api.call("POST", f"/api/deployments/{deployment_id}:transition", {"state": f"DEPLOYMENT_STATE_{state}"},
                     token=vendor_token)  # fmt: skip
    trainer = api.call("POST", "/api/admin/tokens", {"vendor": "acme", "scopes": ["training:write"]})["secret"]
    run = api.call("POST", "/api/training/runs", {"provider": "local", "project": "mean-reversion",
                   "hyperparameters": {"l2": 0.5, "lookback": 20, "model": "ridge"}}, token=trainer)  # fmt: skip
    path = f"/api/training/runs/{run['id']}"
    api.call("POST", path + ":transition", {"state": "RUN_STATE_RUNNING"}, token=trainer)
    loss, ic, metrics, lines = 1.2, 0.0, [], []
    for step in range(1, 41):
        loss, ic = loss * 0.93 + rng.uniform(0, 0.03), ic + rng.uniform(-0.004, 0.008)
        metrics += [{"key": "loss", "value": loss, "step": step}, {"key": "val_ic", "value": ic, "step": step}]
        if step % 4 == 0:
            lines.append({"stream": "stdout", "text": f"epoch {step // 4}: loss={loss:.4f} val_ic={ic:.4f}"})
    lines.append({"stream": "stderr", "text": "warning: 3 rows dropped (NaN)"})
    api.call("POST", path + "/metrics", {"metrics": metrics}, token=trainer)
    api.call("POST", path + "/logs", {"lines": lines}, token=trainer)
    return deployments


def signal_fields(rng: random.Random) -> dict:
    return {"score": round(rng.uniform(-1, 1), 3), "confidence": round(rng.uniform(0.3, 0.95), 2),
            "action": rng.choice(ACTIONS), "horizon": rng.choice(["300s", "3600s", "86400s"])}  # fmt: skip


def stream(api: Api, deployments: list[str], rng: random.Random, stop: threading.Event) -> None:
    while not stop.wait(0.25):
        try:
            api.store_signal(rng.choice(deployments), rng.choice(SYMBOLS), **signal_fields(rng))
        except AssertionError:
            pass  # a signal refused for its round: the picture does without it


def docs_api(page, base: str, out: Path) -> None:
    """The API reference with ListCatalog tried (console-docs-api.png)."""
    page.goto(base + "/marketplace/docs/api")
    catalog = page.locator("section[data-operation=CatalogService_ListCatalog]")
    catalog.locator(".try-it summary").click()
    catalog.locator("#CatalogService_ListCatalog-pageSize").fill("1")
    catalog.locator("button[type=submit]").click()
    page.wait_for_selector("#CatalogService_ListCatalog-output[data-outcome=ok]")
    page.evaluate("document.querySelector('.topbar').style.position = 'static'")  # not over the section
    catalog.screenshot(path=str(out / "console-docs-api.png"))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp()) / "data"
    server = ServerThread(Settings(data_dir=data, database_url=default_database_url(data), log_level="WARNING"))
    server.start()
    rng = random.Random(12)
    api = Api(server.http_url, server.admin_token)
    deployments = fill(server, api, rng)
    stop = threading.Event()
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1360, "height": 860})
            sign_in(page, server.http_url, server.admin_token)
            page.wait_for_selector(".vendor")
            page.screenshot(path=str(out / "console-catalog.png"), full_page=True)
            page.click("#nav >> text=Live signals")
            page.wait_for_selector("#live-status[data-state=live]")
            threading.Thread(target=stream, args=(api, deployments, rng, stop), daemon=True).start()
            page.wait_for_timeout(8000)
            page.screenshot(path=str(out / "console-live.png"))
            page.goto(server.http_url + "/marketplace")
            page.locator(".vendor .models a").first.click()
            page.wait_for_selector("#model-signals table")
            page.screenshot(path=str(out / "console-model.png"), full_page=True)
            page.goto(server.http_url + "/marketplace/rounds/1")
            page.wait_for_selector("#pull-command")
            page.screenshot(path=str(out / "console-round.png"), full_page=True)
            page.click("#nav >> text=Deployments")
            page.wait_for_selector("#deployment-rows tr[data-deployment]")
            page.screenshot(path=str(out / "console-deployments.png"))
            page.locator("#deployment-rows button:has-text('Delete')").first.click()
            page.wait_for_selector("#confirm-delete")
            page.screenshot(path=str(out / "console-delete.png"))
            page.keyboard.press("Escape")
            page.goto(server.http_url + "/marketplace/runs")
            page.click("#run-rows a")
            page.wait_for_selector("#run-charts figure")
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / "console-run.png"), full_page=True)
            page.goto(server.http_url + "/marketplace/admin")
            page.wait_for_selector("#token-rows tr")
            page.screenshot(path=str(out / "console-operator.png"), full_page=True)
            docs_api(page, server.http_url, out)
            mobile = browser.new_page(viewport={"width": 390, "height": 800})
            sign_in(mobile, server.http_url, server.admin_token)
            mobile.wait_for_selector(".vendor")
            mobile.screenshot(path=str(out / "console-catalog-narrow.png"))
    finally:
        stop.set()
        server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
