"""The inference server `mp deploy` starts: GET /ping (200 ready, 204 loading), POST /predict, and
live signals.

POST /predict {"rows": [{"symbol": "AAPL", "ret_1": ..., ...}, ...]}
  → {"signals": [{"symbol": "AAPL", "score": 0.12, "action": "buy"}, ...]}

Deployed (MP_DEPLOYMENT_TOKEN set by `mp deploy`), it also follows the marketplace's feature stream: for each
new bar the marketplace sends the symbol's features (computed by the code that built the round's files), this
server scores them and publishes a signal for that symbol, on the round the features are for. A round that
rolls over needs no redeploy: the stream moves to the new round and the signals with it. The stream starts with
the latest row of each symbol, and reconnects by itself when it breaks. Signals go out with the marketplace's
SignalPublisher, which batches them and resends what was not acknowledged (to the marketplace only: it delivers
them on to what `mp link-infra` links).
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


def marketplace_library():
    """The marketplace's SignalPublisher and FeatureStream: from this environment (the Dockerfile installs them),
    else from the mp that started this server (`mp deploy` names its own packages in MP_PUBLISHER_SITE; they come
    after this project's own, which always win)."""
    try:
        from mlmp_cli.publisher import FeatureStream, SignalPublisher
    except ImportError:
        if not os.environ.get("MP_PUBLISHER_SITE"):
            raise
        site.addsitedir(os.environ["MP_PUBLISHER_SITE"])
        from mlmp_cli.publisher import FeatureStream, SignalPublisher
    return SignalPublisher, FeatureStream


def publish_signals(SignalPublisher, FeatureStream) -> None:
    try:
        follow_features(SignalPublisher, FeatureStream)
    except BaseException:
        # A server that no longer publishes must not look live: end the process, so the deployment fails visibly.
        logging.exception("publishing signals failed; the server stops")
        os._exit(1)


def signal_for(row, version: str) -> dict:
    """The signal for one feature row of the stream: on the row's round, with the round's horizon."""
    (predicted,) = predict([{"symbol": row.symbol, **row.features}])
    return {
        "symbol": predicted["symbol"], "score": predicted["score"], "action": predicted["action"],
        "confidence": min(1.0, abs(predicted["score"])), "horizon": f"{row.horizon.total_seconds():.0f}s",
        "roundNumber": row.round_number, "modelVersion": version,
    }  # fmt: skip


def follow_features(SignalPublisher, FeatureStream) -> None:
    version = os.environ.get("MP_MODEL_VERSION", "")
    # A bar's rows of every symbol arrive together: 5 ms of linger still sends them as one batch, where the 50 ms
    # default (made for models that publish in bursts) would add its whole wait to every bar's signals.
    publisher = SignalPublisher.from_env(model_version=version, linger=0.005)
    while MODEL is None:
        time.sleep(0.1)
    current_round = None
    for row in FeatureStream.following(publisher):
        if row.round_number != current_round:
            logging.info("publishing signals on round %d as its bars arrive", row.round_number)
            current_round = row.round_number
        publisher.publish(signal_for(row, version))


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
    library = None
    if os.environ.get("MP_DEPLOYMENT_TOKEN"):
        # Before any thread starts: one still writing to stderr while the interpreter exits aborts it.
        try:
            library = marketplace_library()
        except ImportError as error:
            sys.exit(f"cannot publish signals: {error}. Install the marketplace's package (ml-marketplace) in this "
                     "project's environment, or start the server with `mp deploy`, which lends it its own.")
    threading.Thread(target=load_model, daemon=True).start()
    if library is not None:
        threading.Thread(target=publish_signals, args=library, daemon=True).start()
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    logging.info("serving /ping and /predict on port %d", server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
