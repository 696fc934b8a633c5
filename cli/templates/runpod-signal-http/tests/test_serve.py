import json
import threading
import urllib.request
from http.server import ThreadingHTTPServer

import numpy as np
import pandas as pd

import serve
from model import FEATURES, TARGET, Model


def test_ping_says_loading_then_ready_and_predict_returns_signals(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(200, len(FEATURES))), columns=FEATURES)
    frame[TARGET] = frame["ret_5"] * 0.5
    Model.fit(frame).save(tmp_path / "model.json")
    monkeypatch.setenv("MP_MODEL_PATH", str(tmp_path / "model.json"))
    monkeypatch.setattr(serve, "MODEL", None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), serve.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert urllib.request.urlopen(base + "/ping").status == 204  # still loading
        serve.load_model()
        assert urllib.request.urlopen(base + "/ping").status == 200
        rows = [{"symbol": "AAA", **{name: 1.0 for name in FEATURES}}, {"symbol": "BBB", **{n: -1.0 for n in FEATURES}}]
        request = urllib.request.Request(base + "/predict", data=json.dumps({"rows": rows}).encode(), method="POST")
        signals = json.loads(urllib.request.urlopen(request).read())["signals"]
        assert [s["symbol"] for s in signals] == ["AAA", "BBB"]
        assert all(-1 <= s["score"] <= 1 and s["action"] in ("buy", "sell", "hold") for s in signals)
    finally:
        server.shutdown()


def test_live_rows_are_the_newest_row_of_each_symbol(tmp_path):
    times = pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-01", "2026-01-03"], utc=True)
    live = pd.DataFrame(
        {"symbol": ["AAA", "AAA", "BBB", "BBB"], "time": times, **{name: [1.0, 2.0, 3.0, 4.0] for name in FEATURES}}
    )
    live.to_parquet(tmp_path / "live.parquet")
    rows = serve.live_rows(tmp_path).sort_values("symbol")
    assert list(rows["symbol"]) == ["AAA", "BBB"]
    assert list(rows["ret_1"]) == [2.0, 4.0]
