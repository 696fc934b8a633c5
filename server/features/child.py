"""The feature worker's child process: the round builder's own `_features` (mlmp_cli.rounds.features) over the
last bars of each symbol, one JSON line in, one JSON line out.

Runs as `python -m mlmp_server.features.child`, spawned by FeatureWorker (server/features/worker.py), so pandas and
numpy load here and never in the server. Every window and shift of `_features` is per symbol and reaches at most
WINDOW - 1 bars back, so the feature row of a symbol's newest bar computed over its last WINDOW bars is the row the
round builder computes over the whole history (the rolling standard deviation to float rounding, ~1e-17).

Protocol (stdin → stdout, one JSON object per line; floats as Python writes them, NaN included, so exact):
  at start, out: {"features": [names...], "window": W}
  in:  {"bars": [[symbol, time (ISO 8601), open, high, low, close, volume], ...]}
  out: {"rows": [[symbol, time (as received), [value per feature]], ...]}: one per bar whose features are all
       known (a symbol's first W - 1 bars are its warm-up, as the builder's dropna drops them); a bar older than the
       symbol's newest is skipped, one at the same time replaces it (a corrected bar).
  in:  {"live": path or URL, "format": "parquet" | "csv"}: the newest row of each symbol in a round's live file
       (a local blob's path, or an S3 store's presigned URL: the file is read here, never in the server)
  out: {"rows": [...]} as above, with the file's time as ISO 8601
"""

from __future__ import annotations

import io
import json
import sys
import urllib.request
from collections.abc import Iterable
from typing import Any, TextIO

import numpy as np
import pandas as pd

from mlmp_cli.rounds.features import (
    FEATURES,
    RETURN_HORIZONS,
    VOLATILITY_WINDOW,
    VOLUME_WINDOW,
    _features,
)

# The bars one feature row needs: ret_h looks h bars back; the volatility is a std over VOLATILITY_WINDOW one-bar
# returns, each of which looks one bar back; the volume ratio divides by a mean over VOLUME_WINDOW bars.
WINDOW = max(max(RETURN_HORIZONS) + 1, VOLATILITY_WINDOW + 1, VOLUME_WINDOW)

Bar = tuple[str, str, float, float, float, float, float]


class Windows:
    """The last `window` bars of each symbol, and the feature rows of new ones: one `_features` call per request
    for every symbol in it (a batch of a feed's bars, or a replayed history), over each symbol's new bars and the
    `window` - 1 kept before them."""

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self._bars: dict[str, list[tuple[pd.Timestamp, Bar]]] = {}

    def add(self, bars: list[Bar]) -> list[list[Any]]:
        touched: dict[str, list[tuple[pd.Timestamp, Bar, bool]]] = {}  # symbol → its bars, True for a new one
        for bar in bars:
            symbol, when = bar[0], pd.Timestamp(bar[1])
            when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
            if symbol not in touched:
                touched[symbol] = [(kept_when, kept, False) for kept_when, kept in self._bars.get(symbol, [])]
            series = touched[symbol]
            if series and when < series[-1][0]:
                continue  # older than the symbol's newest: the feed never sends one, and it has no row
            if series and when == series[-1][0]:
                series.pop()  # a corrected bar replaces the one at its time
            series.append((when, bar, True))
        parts: list[tuple[Any, ...]] = []
        new_rows = 0
        for symbol, series in touched.items():
            self._bars[symbol] = [(when, bar) for when, bar, _ in series[-self.window :]]
            first_new = next(index for index, (_, _, new) in enumerate(series) if new)
            span = series[max(0, first_new - self.window + 1) :]
            parts.extend((when, *bar[2:], symbol, bar[1], new) for when, bar, new in span)
            new_rows += sum(new for *_, new in span)
        if not new_rows:
            return []
        frame = pd.DataFrame(parts, columns=["time", "open", "high", "low", "close", "volume", "symbol", "sent", "new"])
        frame = frame.sort_values(["symbol", "time"], ignore_index=True)  # the order `_features` returns its rows in
        values = _features(frame)[list(FEATURES)].to_numpy(dtype=float)
        # NaN: a warm-up row, which the builder's dropna drops
        wanted = np.flatnonzero(frame["new"].to_numpy(dtype=bool) & ~np.isnan(values).any(axis=1))
        symbols, sent = frame["symbol"].to_numpy(), frame["sent"].to_numpy()
        return [[symbols[i], sent[i], values[i].tolist()] for i in wanted]


def read_file(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as response:
            return response.read()  # type: ignore[no-any-return]
    with open(source, "rb") as file:
        return file.read()


def live_rows(data: bytes, file_format: str) -> list[list[Any]]:
    """The newest row of each symbol in a round's live file: what a model scores before the first bar arrives."""
    table = pd.read_parquet(io.BytesIO(data)) if file_format == "parquet" else pd.read_csv(io.BytesIO(data))
    table["time"] = pd.to_datetime(table["time"], utc=True)
    newest = table.sort_values("time").groupby("symbol", as_index=False).tail(1).sort_values("symbol")
    return [
        [str(row["symbol"]), row["time"].isoformat(), [float(row[name]) for name in FEATURES]]
        for _, row in newest.iterrows()
        if all(name in row for name in FEATURES)
    ]


def serve(lines: Iterable[str], out: TextIO) -> None:
    windows = Windows()
    out.write(json.dumps({"features": list(FEATURES), "window": WINDOW}) + "\n")
    out.flush()
    for line in lines:
        request = json.loads(line)
        try:
            if "live" in request:
                answer: dict[str, Any] = {"rows": live_rows(read_file(request["live"]), request["format"])}
            else:
                answer = {"rows": windows.add(request["bars"])}
        except Exception as error:  # a bad file or bar is this request's failure, not the worker's end
            answer = {"error": f"{type(error).__name__}: {error}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
