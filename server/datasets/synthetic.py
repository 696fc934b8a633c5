"""Synthetic OHLCV prices (geometric Brownian motion) for the demo round of a fresh install.

They are not market data, and everything built from them says so: the symbols start with `SYN`,
and the round is marked synthetic and described as such.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SYMBOLS = ("SYNAAA", "SYNBBB", "SYNCCC", "SYNDDD", "SYNEEE", "SYNFFF")
DESCRIPTION = "Demo round from SYNTHETIC prices (geometric Brownian motion), not market data."


def synthetic_prices(days: int = 400, seed: int = 7) -> list[pd.DataFrame]:
    import numpy as np  # only the demo round's build needs them, in a process of its own
    import pandas as pd

    rng = np.random.default_rng(seed)
    times = pd.date_range(end=pd.Timestamp.now(tz="UTC").normalize(), periods=days, freq="B")
    frames = []
    for symbol in SYMBOLS:
        drift, volatility = rng.uniform(-0.0002, 0.0006), rng.uniform(0.01, 0.03)
        log_returns = rng.normal(drift, volatility, days)
        close = 100 * np.exp(np.cumsum(log_returns))
        open_ = close * np.exp(rng.normal(0, volatility / 3, days))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, volatility, days))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, volatility, days))
        volume = rng.lognormal(13, 0.4, days).round()
        frames.append(
            pd.DataFrame(
                {"time": times, "open": open_, "high": high, "low": low, "close": close, "volume": volume,
                 "symbol": symbol}
            )
        )  # fmt: skip
    return frames


def synthetic_bars() -> list[tuple[str, float, float, float, float, float, float]]:
    """The demo round's prices as plain rows (symbol, seconds since 1970, open, high, low, close, volume), for a
    process without pandas: the market feed's demo replay starts from the history the round was built from."""
    rows = []
    for frame in synthetic_prices():
        for row in frame.itertuples(index=False):
            rows.append(
                (str(row.symbol), row.time.timestamp(), float(row.open), float(row.high), float(row.low),
                 float(row.close), float(row.volume))
            )  # fmt: skip
    return rows
