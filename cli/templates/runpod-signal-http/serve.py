"""The inference server RunPod runs: GET /ping (200 ready, 204 loading), POST /predict.

POST /predict {"rows": [{"symbol": "AAPL", "ret_1": ..., ...}, ...]}
  → {"signals": [{"symbol": "AAPL", "score": 0.12, "action": "buy"}, ...]}
"""

import json
import os
import threading
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
    threading.Thread(target=load_model, daemon=True).start()
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
