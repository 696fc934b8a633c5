"""Issue 14 end to end, with the real `mp` against a real `mp-server` (SQLite and PostgreSQL): a round published
from real price files in the formats people have (pandas' to_csv with its unnamed date column; a gzipped copy
with lowercase headers), their history replayed into the feed, the template deployed, then the rest of the
prices replayed bar by bar: the model's signals change with each new bar of every symbol, its live score
appears in the catalog, and the round resolves from the feed."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.price_files import fetch_price_files
from tests.helpers.processes import ServerProcess, clean_env, mp_in, run
from tests.helpers.projects import trained_project

pytestmark = pytest.mark.e2e

FUTURE = 24  # daily bars replayed after the deployment starts: a horizon is 5 of them


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_DEMO_ROUND": "false"}


def price_folders(tmp_path: Path) -> tuple[Path, Path]:
    """The history (all but the last FUTURE days) and the whole of it, each as GOOG.csv (as the package ships
    it) and GOOGX.csv.gz (another symbol: the same days, prices scaled and jittered, lowercase headers, gzip)."""
    lines = fetch_price_files(tmp_path / "fetched")["GOOG.csv"].read_text().splitlines()
    header, rows = lines[0], lines[1:]
    other = []
    for n, row in enumerate(rows):
        date, *values = row.split(",")
        factor = 0.5 * (1 + 0.01 * ((n * 7) % 5 - 2))
        prices = [f"{float(v) * factor:.4f}" for v in values[:4]]
        other.append(",".join([date, *prices, values[4]]))
    folders = []
    for name, count in (("history", len(rows) - FUTURE), ("whole", len(rows))):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "GOOG.csv").write_text("\n".join([header, *rows[:count]]) + "\n")
        with gzip.open(folder / "GOOGX.csv.gz", "wt") as out:
            out.write("\n".join([header.lower(), *other[:count]]) + "\n")
        folders.append(folder)
    return folders[0], folders[1]


def wait_for(condition, timeout: float = 60.0, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def test_a_round_from_price_files_is_signalled_bar_by_bar_scored_live_and_resolved_from_the_feed(
    server: ServerProcess, tmp_path: Path
):
    history, whole = price_folders(tmp_path)
    operator = clean_env(MP_API_URL=server.api_url, MP_TOKEN=server.admin_token, MP_CONFIG_DIR=str(tmp_path / "op"))
    published = run("mp", "admin", "rounds", "publish", "--from-csv", str(history), "--json", env=operator,
                    timeout=180)  # fmt: skip
    assert published.returncode == 0, published.stderr
    round_ = json.loads(published.stdout)
    assert sorted(round_["symbols"]) == ["GOOG", "GOOGX"]
    replayed = run("mp", "admin", "market", "replay", "--from-csv", str(history), "--speed", "max", env=operator,
                   timeout=180)  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr

    folder, env, admin = trained_project(server, tmp_path)
    deployed = mp_in(folder, env, "deploy", "--json")
    assert deployed.returncode == 0, deployed.stderr
    deployment = json.loads(deployed.stdout)
    headers = {"Authorization": f"Bearer {server.admin_token}"}

    def signals(symbol: str) -> list[dict]:
        answer = httpx.get(server.api_url + "/api/signals", headers=headers,
                           params={"symbol": symbol, "pageSize": 500}).json()  # fmt: skip
        return answer.get("signals", [])

    try:
        wait_for(lambda: all(signals(s) for s in ("GOOG", "GOOGX")))  # the first rows of the feature stream
        # The rest of the prices: a daily bar about every 0.4 s (86400 s of market time in 0.4 s)
        rest = run("mp", "admin", "market", "replay", "--from-csv", str(whole), "--speed", "216000x", env=operator,
                   timeout=300)  # fmt: skip
        assert rest.returncode == 0, rest.stderr
        for symbol in ("GOOG", "GOOGX"):
            # one signal per new bar (and the first row's), each from that bar's features
            found = wait_for(lambda symbol=symbol: len(signals(symbol)) > FUTURE and signals(symbol))
            scores = [s["score"] for s in found]
            assert len(set(scores)) > FUTURE // 2, f"{symbol}: the signals did not change with the bars: {scores}"

        def scored() -> dict | None:
            (entry,) = json.loads(mp_in(folder, env, "catalog", "--json").stdout)
            (model,) = entry["models"]
            live = model.get("score", {})
            return model if int(live.get("scoredSignals", 0)) >= 2 * (FUTURE - 6) else None

        model = wait_for(scored)
        live = model["score"]
        assert -1 <= live["rankCorrelation"] <= 1
        assert 0 <= live["hitRate"] <= 1
        assert live["window"] == 1000
        status = mp_in(folder, env, "deployments", "status", deployment["id"]).stdout
        assert "Live score:      rank correlation" in status
        table = mp_in(folder, env, "catalog").stdout
        assert "GOOG" not in table  # models, not symbols
        assert deployment["id"] in table or model["name"] in table
    finally:
        stopped = mp_in(folder, env, "deployments", "stop", deployment["id"])
        assert stopped.returncode == 0, stopped.stderr

    resolved = run("mp", "admin", "rounds", "resolve", str(round_["number"]), env=admin)
    assert resolved.returncode == 0, resolved.stderr
    assert "from the market feed" in resolved.stdout
    catalog = httpx.get(server.api_url + "/api/catalog", headers=headers).json()
    (model,) = catalog["entries"][0]["models"]
    assert model["scoredRounds"] == 1
