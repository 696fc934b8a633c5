"""Round files from OHLCV price CSVs: a feature table per symbol and time, split by time.

Input: one CSV per symbol (the symbol from a `Symbol` column or the file name) with a date/time
column and Open, High, Low, Close, Volume (any letter case). Bad input is refused with the file,
line and column. Features use only the past; the target is the forward return over
TARGET_HORIZON bars. Rows are split by time into train / validation / live, and rows whose target
window would reach into the next split are dropped, so no split sees the one after it. Live rows
carry no target: it lies in the future.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

RETURN_HORIZONS = (1, 5, 20)
VOLATILITY_WINDOW = 20
VOLUME_WINDOW = 20
TARGET_HORIZON = 5
TARGET = f"target_fwd_ret_{TARGET_HORIZON}"
SPLITS = (("train", 0.6), ("validation", 0.2), ("live", 0.2))
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
TIME_COLUMNS = ("date", "datetime", "time", "timestamp")
_HEADER = "Date,Open,High,Low,Close,Volume"
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")  # pandas' words for a ragged row
FEATURES = (
    *(f"ret_{h}" for h in RETURN_HORIZONS),
    f"volatility_{VOLATILITY_WINDOW}",
    f"volume_ratio_{VOLUME_WINDOW}",
    "range",
)


class PriceDataError(ValueError):
    """The message names the file, the line and the column."""


@dataclass(frozen=True)
class BuiltRound:
    tables: dict[str, pd.DataFrame]  # split name → rows
    symbols: list[str]
    start: pd.Timestamp
    end: pd.Timestamp


def read_prices(name: str, text: str) -> pd.DataFrame:
    """One symbol's bars from CSV text, checked cell by cell."""
    raw = _read_csv(name, text)
    columns = {column.strip().lower(): column for column in raw.columns}
    time_column = next((columns[c] for c in TIME_COLUMNS if c in columns), None)
    missing = [c.capitalize() for c in PRICE_COLUMNS if c not in columns]
    if time_column is None:
        missing.insert(0, "Date")
    if missing:
        found = ", ".join(raw.columns) or "nothing"
        raise PriceDataError(f"{name}: missing column {', '.join(missing)} (found: {found})")
    assert time_column is not None
    if raw.empty:
        raise PriceDataError(f"{name}: no rows")
    times = pd.to_datetime(raw[time_column], errors="coerce", utc=True, format="mixed")
    _first_bad(name, raw, time_column, times.isna(), "is not a date or time")
    frame = pd.DataFrame({"time": times})
    for column in PRICE_COLUMNS:
        values = pd.to_numeric(raw[columns[column]].str.strip(), errors="coerce")
        _first_bad(name, raw, columns[column], values.isna(), "is not a number")
        _first_bad(name, raw, columns[column], values.abs() == math.inf, "is not a finite number")
        _first_bad(name, raw, columns[column], values < 0, "is negative")
        frame[column] = values.astype(float)
    symbol_column = columns.get("symbol")
    frame["symbol"] = raw[symbol_column].str.strip() if symbol_column else Path(name).stem.upper()
    duplicated = frame.duplicated(["symbol", "time"])
    _first_bad(name, raw, time_column, duplicated, "repeats an earlier time for the same symbol")
    return frame


def _read_csv(name: str, text: str) -> pd.DataFrame:
    """Every cell as text; a file that is empty or ragged is refused with its line, not a parser's trace."""
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise PriceDataError(f"{name}: the file is empty; it needs a header line such as {_HEADER}") from None
    except pd.errors.ParserError as error:
        ragged = _RAGGED.search(str(error))
        if ragged is None:
            raise PriceDataError(f"{name}: not a readable CSV file ({error})") from None
        expected, line, saw = ragged.groups()
        raise PriceDataError(f"{name} line {line}: {saw} fields, but the header names {expected} columns") from None
    if not isinstance(raw.index, pd.RangeIndex):
        # pandas takes a first column beyond the header's for an index: every row has one field too many.
        raise PriceDataError(
            f"{name} line 2: {len(raw.columns) + 1} fields, but the header names {len(raw.columns)} columns"
        )
    return raw


def _first_bad(name: str, raw: pd.DataFrame, column: str, bad: pd.Series, problem: str) -> None:
    if bad.any():
        index = int(bad.to_numpy().nonzero()[0][0])
        value = raw[column].iloc[index]
        raise PriceDataError(f"{name} line {index + 2}, column {column}: {value!r} {problem}")


def _features(bars: pd.DataFrame) -> pd.DataFrame:
    bars = bars.sort_values("time").reset_index(drop=True)
    close = bars["close"]
    out = pd.DataFrame({"symbol": bars["symbol"], "time": bars["time"]})
    for horizon in RETURN_HORIZONS:
        out[f"ret_{horizon}"] = close / close.shift(horizon) - 1
    out[f"volatility_{VOLATILITY_WINDOW}"] = out["ret_1"].rolling(VOLATILITY_WINDOW).std()
    out[f"volume_ratio_{VOLUME_WINDOW}"] = bars["volume"] / bars["volume"].rolling(VOLUME_WINDOW).mean()
    out["range"] = (bars["high"] - bars["low"]) / close
    out[TARGET] = close.shift(-TARGET_HORIZON) / close - 1
    return out


def build_round(prices: Iterable[pd.DataFrame]) -> BuiltRound:
    bars = pd.concat(list(prices), ignore_index=True)
    table = pd.concat([_features(group) for _, group in bars.groupby("symbol", sort=True)], ignore_index=True)
    table = table.dropna(subset=list(FEATURES))  # the warm-up of each rolling window
    times = sorted(table["time"].unique())
    if len(times) < 3 * (TARGET_HORIZON + 1):
        raise PriceDataError(
            f"too little history: {len(times)} usable bars after a {max(RETURN_HORIZONS)}-bar warm-up; "
            f"need at least {3 * (TARGET_HORIZON + 1)}"
        )
    bounds, start = [], 0
    for index, (_, share) in enumerate(SPLITS):
        end = len(times) if index == len(SPLITS) - 1 else start + round(len(times) * share)
        bounds.append((start, end))
        start = end
    tables = {}
    for (split, _), (first, last) in zip(SPLITS, bounds, strict=True):
        rows = table[(table["time"] >= times[first]) & (table["time"] <= times[last - 1])].copy()
        if split == "live":
            rows[TARGET] = float("nan")
        else:
            # Embargo: a target reaching past this split's last bar would see the next split.
            embargo_from = times[max(first, last - TARGET_HORIZON)]
            rows = rows[rows["time"] < embargo_from].dropna(subset=[TARGET])
        tables[split] = rows.sort_values(["time", "symbol"]).reset_index(drop=True)
    return BuiltRound(tables, sorted(table["symbol"].unique()), table["time"].min(), table["time"].max())


def encode(frame: pd.DataFrame, file_format: str) -> bytes:
    buffer = io.BytesIO()
    if file_format == "parquet":
        frame.to_parquet(buffer, index=False)
    else:
        frame.to_csv(buffer, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    return buffer.getvalue()
