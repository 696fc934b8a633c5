import json
import threading
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
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


@dataclass(frozen=True)
class Row:
    """A row as the marketplace's FeatureStream yields it (mlmp_cli.publisher.LiveFeatures)."""

    symbol: str
    round_number: int
    features: dict
    horizon: timedelta = timedelta(days=5)
    latest: bool = False


class FakeStream:
    rows: list = []

    @classmethod
    def following(cls, publisher):
        assert isinstance(publisher, FakePublisher)
        return iter(cls.rows)


class FakePublisher:
    published: list = []

    @classmethod
    def from_env(cls, model_version="", **options):
        assert model_version == "run-1"
        return cls()

    def publish(self, *signals):
        self.published.extend(signals)


def test_each_feature_row_becomes_a_signal_on_its_round_with_the_rounds_horizon(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(rng.normal(size=(100, len(FEATURES))), columns=FEATURES)
    frame[TARGET] = frame["ret_1"]
    monkeypatch.setattr(serve, "MODEL", Model.fit(frame))
    monkeypatch.setenv("MP_MODEL_VERSION", "run-1")
    features = {name: 0.5 for name in FEATURES}
    FakeStream.rows = [
        Row("AAA", 7, features, latest=True), Row("BBB", 7, {n: -0.5 for n in FEATURES}, latest=True),
        Row("AAA", 7, features), Row("AAA", 8, features, horizon=timedelta(hours=5)),  # the round rolled over
    ]
    FakePublisher.published = []
    serve.follow_features(FakePublisher, FakeStream)
    signals = FakePublisher.published
    assert [(s["symbol"], s["roundNumber"]) for s in signals] == [("AAA", 7), ("BBB", 7), ("AAA", 7), ("AAA", 8)]
    assert [s["horizon"] for s in signals] == ["432000s", "432000s", "432000s", "18000s"]
    assert signals[0]["score"] == signals[2]["score"] != signals[1]["score"]
    assert all(s["modelVersion"] == "run-1" and 0 <= s["confidence"] <= 1 for s in signals)
