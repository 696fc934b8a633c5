"""The inference server `mp deploy` starts: GET /ping (200 ready, 204 loading), POST /predict, and
live signals.

POST /predict {"rows": [{"symbol": "AAPL", "ret_1": ..., ...}, ...]}
  → {"signals": [{"symbol": "AAPL", "score": 0.12, "action": "buy"}, ...]}

Deployed (MP_DEPLOYMENT_TOKEN set by `mp deploy`), it also scores the round's live symbols every
MP_SIGNAL_INTERVAL seconds and publishes the signals with the marketplace's SignalPublisher, which
batches them and resends what was not acknowledged (to the marketplace only: it delivers them on to
what `mp link-infra` links).
"""

import json
import logging
import os
import site
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd

from model import FEATURES, Model

MODEL: Model | None = None


def load_model() -> None:
    global MODEL
    MODEL = Model.load(Path(os.environ.get("MP_MODEL_PATH", "artifacts/model.json")))


def predict(rows: list[dict]) -> list[dict]:
    frame = pd.DataFrame(rows)
    missing = [name for name in FEATURES if name not in frame]
    if missing:
        raise ValueError(f"missing features: {', '.join(missing)}")
    scores = MODEL.scores(frame)
    return [
        {
            "symbol": row.get("symbol", ""),
            "score": float(score),
            "action": "buy" if score > 0.05 else "sell" if score < -0.05 else "hold",
        }
        for row, score in zip(rows, scores, strict=True)
    ]


def live_rows(round_dir: Path) -> pd.DataFrame:
    """The newest row of each symbol in the round's live file: what the model scores now."""
    live = pd.read_parquet(round_dir / "live.parquet")
    return live.sort_values("time").groupby("symbol", as_index=False).tail(1)


def publisher_class():
    """The marketplace's SignalPublisher: from this environment (the Dockerfile installs it), else from the
    mp that started this server (`mp deploy` names its own packages in MP_PUBLISHER_SITE; they come after
    this project's own, which always win)."""
    try:
        from mlmp_cli.publisher import SignalPublisher
    except ImportError:
        if not os.environ.get("MP_PUBLISHER_SITE"):
            raise
        site.addsitedir(os.environ["MP_PUBLISHER_SITE"])
        from mlmp_cli.publisher import SignalPublisher
    return SignalPublisher


def publish_signals(SignalPublisher, interval: float) -> None:
    try:
        publish_every(SignalPublisher, interval)
    except BaseException:
        # A server that no longer publishes must not look live: end the process, so the deployment fails visibly.
        logging.exception("publishing signals failed; the server stops")
        os._exit(1)


def publish_every(SignalPublisher, interval: float) -> None:
    round_dir = Path(os.environ.get("MP_ROUND_DIR", "data"))
    round_number = int(os.environ.get("MP_ROUND", "0"))
    version = os.environ.get("MP_MODEL_VERSION", "")
    publisher = SignalPublisher.from_env(model_version=version)
    while MODEL is None:
        time.sleep(0.1)
    rows = live_rows(round_dir)
    logging.info("publishing signals for %d symbols of round %d every %gs", len(rows), round_number, interval)
    while True:
        predicted = predict(rows.to_dict("records"))
        publisher.publish(*(
            {"symbol": p["symbol"], "score": p["score"], "action": p["action"], "confidence": min(1.0, abs(p["score"])),
             "horizon": "432000s", "roundNumber": round_number, "modelVersion": version}
            for p in predicted
        ))  # fmt: skip
        time.sleep(interval)


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: dict | None = None) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._send(200 if MODEL is not None else 204)
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/predict":
            return self._send(404, {"error": "not found"})
        if MODEL is None:
            return self._send(503, {"error": "the model is still loading"})
        try:
            rows = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))["rows"]
            self._send(200, {"signals": predict(rows)})
        except (ValueError, KeyError, TypeError) as error:
            self._send(400, {"error": str(error)})

    def log_message(self, *_args) -> None:
        pass


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    threading.Thread(target=load_model, daemon=True).start()
    if os.environ.get("MP_DEPLOYMENT_TOKEN"):
        try:
            publisher = publisher_class()
        except ImportError as error:
            sys.exit(f"cannot publish signals: {error}. Install the marketplace's package (ml-marketplace) in this "
                     "project's environment, or start the server with `mp deploy`, which lends it its own.")
        interval = float(os.environ.get("MP_SIGNAL_INTERVAL", "60"))
        threading.Thread(target=publish_signals, args=(publisher, interval), daemon=True).start()
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    logging.info("serving /ping and /predict on port %d", server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
