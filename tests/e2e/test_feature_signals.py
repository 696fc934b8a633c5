"""The template's serve.py, deployed with the real CLI against a real mp-server, follows the feature stream: it
signals at once on the latest features, then once per new bar pushed to the market feed (over REST, as an
operator's feed does), on the round the features are for."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mlmp_server.datasets.synthetic import SYMBOLS
from tests.helpers.processes import mp_in
from tests.helpers.projects import trained_project

pytestmark = pytest.mark.e2e
NEW_BARS = 5


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_DEMO_REPLAY_SPEED": "0"}  # the demo round without its replayed market: the test brings the bars


def wait_for(condition, timeout: float = 60.0, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def push(server, headers, *batches: list[dict]) -> None:
    body = "".join(json.dumps({"bars": batch}) + "\n" for batch in batches)
    answer = httpx.post(server.api_url + "/api/admin/market/bars", content=body, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text


def bar(symbol: str, day: int, close: float) -> dict:
    """A daily bar `day` days after tomorrow: later than anything the demo round was built from."""
    when = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1 + day)
    return {"symbol": symbol, "time": when.isoformat().replace("+00:00", "Z"), "open": close, "high": close * 1.01,
            "low": close * 0.99, "close": close, "volume": 1000 + day}  # fmt: skip


def test_a_deployed_template_signals_once_per_new_bar_on_the_open_round(server, tmp_path):
    folder, env, _admin = trained_project(server, tmp_path)
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    deployed = mp_in(folder, env, "deploy", "--json")
    assert deployed.returncode == 0, deployed.stderr
    deployment = json.loads(deployed.stdout)
    symbol = SYMBOLS[0]

    def signals() -> list[dict]:
        answer = httpx.get(server.api_url + "/api/signals", headers=headers, params={"symbol": symbol})
        return answer.json().get("signals", [])

    try:
        first = wait_for(signals)  # the latest row of each symbol: a signal at once, before any new bar
        assert len(first) == 1
        # Twenty bars are the warm-up of the features' longest window: no row, so no signal, until the 21st.
        push(server, headers, [bar(symbol, day, 100 + day) for day in range(20)])
        for day in range(20, 20 + NEW_BARS):
            push(server, headers, [bar(symbol, day, 100 + day * 1.5)])
        stored = wait_for(lambda: len(found := signals()) >= 1 + NEW_BARS and found)
        time.sleep(1.0)  # nothing more may come: one signal per bar
        stored = signals()
        assert len(stored) == 1 + NEW_BARS
        assert {s["roundNumber"] for s in stored} == {1}
        assert {s["horizon"] for s in stored} == {"432000s"}  # the demo round's daily bars × 5
        assert {s["attribution"]["deploymentId"] for s in stored} == {deployment["id"]}
        assert len({s["score"] for s in stored}) > 1  # new features, new predictions: not one repeated
    finally:
        stopped = mp_in(folder, env, "deployments", "stop", deployment["id"])
        assert stopped.returncode == 0, stopped.stderr
