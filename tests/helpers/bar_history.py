"""Price histories for the feature stream's tests: CSV price files of several symbols (as a round is built from),
and the same bars as the market feed takes them, a time at a time."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from google.protobuf.timestamp_pb2 import Timestamp

from mlmp_cli.rounds.features import read_price_bytes
from mlmp_marketplace.v1 import market_pb2

# symbol, first day, daily bars: histories of different lengths and periods, as people have them
HISTORIES = (("AAA", "2024-01-01", 260), ("BBB", "2024-03-01", 200), ("CCC", "2024-02-10", 120))


def price_files(seed: int = 11, histories=HISTORIES, extra: int = 0) -> dict[str, bytes]:
    """One CSV price file per symbol (name → bytes); `extra` more bars continue the same histories."""
    files = {}
    for index, (symbol, start, days) in enumerate(histories):
        rng = np.random.default_rng([seed, index])  # each symbol its own draws: longer histories extend shorter
        length = days + extra
        times = pd.date_range(start, periods=length, freq="B", tz="UTC")
        close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, 1000)[:length]))
        open_ = close * np.exp(rng.normal(0, 0.005, 1000)[:length])
        frame = pd.DataFrame({
            "Date": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "Open": open_,
            "High": np.maximum(open_, close) * 1.01, "Low": np.minimum(open_, close) * 0.99, "Close": close,
            "Volume": rng.lognormal(12, 0.5, 1000)[:length].round(),
        })  # fmt: skip
        files[f"{symbol}.csv"] = frame.to_csv(index=False).encode()
    return files


def prices_of(files: dict[str, bytes]) -> pd.DataFrame:
    """The bars of the files as the round builder reads them (symbol, time, open, high, low, close, volume)."""
    return pd.concat([read_price_bytes(name, data) for name, data in files.items()], ignore_index=True)


def bar_batches(prices: pd.DataFrame) -> Iterator[list[market_pb2.Bar]]:
    """The bars as a feed brings them: every symbol's bar of one time together, time after time."""
    for _, at in prices.sort_values(["time", "symbol"]).groupby("time", sort=True):
        batch = []
        for row in at.itertuples():
            stamp = Timestamp()
            stamp.FromDatetime(row.time.to_pydatetime())
            batch.append(market_pb2.Bar(symbol=row.symbol, time=stamp, open=row.open, high=row.high, low=row.low,
                                        close=row.close, volume=row.volume))  # fmt: skip
        yield batch
