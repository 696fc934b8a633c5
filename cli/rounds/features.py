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

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer
from pandas.api.types import is_string_dtype
from pandas.api.typing import Rolling

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
    """One symbol's bars from CSV text, every cell checked; the first bad one is named by line and column."""
    bars = _read_clean(name, text)
    return bars if bars is not None else _read_checked(name, text)


def _read_clean(name: str, text: str) -> pd.DataFrame | None:
    """The bars of a file with nothing to report, parsed and checked a whole column at a time; else None.

    None sends the file to `_read_checked`, which finds the first bad cell and names it. This path takes only
    what it can vouch for: whatever it accepts, `_read_checked` reads to the same values.
    """
    try:  # from bytes: pandas would encode text to UTF-8 itself, a chunk at a time
        raw = pd.read_csv(io.BytesIO(text.encode()), keep_default_na=False, na_filter=False)
    except (ValueError, pd.errors.ParserError):  # UnicodeError is a ValueError
        return None
    by_name = {column.strip().lower(): raw[column] for column in raw.columns}
    times = next((by_name[c] for c in TIME_COLUMNS if c in by_name), None)
    symbols = by_name.get("symbol")
    if times is None or raw.empty or not isinstance(raw.index, pd.RangeIndex):
        return None
    if any(not is_string_dtype(column) for column in (times, symbols) if column is not None):
        return None  # e.g. dates written as 20260101, read as integers
    bars = {}
    for price in PRICE_COLUMNS:
        column = by_name.get(price)
        if column is None or column.dtype.kind not in "iuf":
            return None
        values = bars[price] = column.to_numpy(dtype=float)
        # signbit: negative, or a "-0" among decimals, which the cell-by-cell path may read as the integer 0;
        # past 2**53 that path rounds integers through int64.
        if not (np.isfinite(values) & ~np.signbit(values) & (values < 2.0**53)).all():
            return None
    # pandas' float parser reads true and false as 1 and 0; the cell-by-cell path refuses them.
    if any(((values == 0) | (values == 1)).any() for values in bars.values()):
        if "true" in (lowered := text.lower()) or "false" in lowered:
            return None
    # ISO 8601 is what format="mixed" tries first, with the same parser; any other spelling is NaT here. Dates of
    # daily bars (2026-01-31) take pandas' quicker path for that one ISO format.
    iso = "%Y-%m-%d" if len(times.iloc[0]) == len("2026-01-31") else "ISO8601"
    times = pd.to_datetime(times, errors="coerce", utc=True, format=iso, cache=False)
    if times.array.isna().any():
        return None
    symbol = symbols.str.strip() if symbols is not None else Path(name).stem.upper()
    frame = pd.DataFrame({"time": times, **bars, "symbol": symbol})
    if not pd.Index(times.array).is_unique and frame.duplicated(["symbol", "time"]).any():
        return None
    return frame


def _read_checked(name: str, text: str) -> pd.DataFrame:
    """Every cell as text, converted and checked so that the first bad one is named."""
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
    """The features of every symbol at once; no window or shift reaches from one symbol into another."""
    bars = bars.sort_values(["symbol", "time"], ignore_index=True)
    symbol = bars["symbol"].to_numpy()
    starts_symbol = np.r_[True, symbol[1:] != symbol[:-1]]
    firsts = np.flatnonzero(starts_symbol)
    group = np.cumsum(starts_symbol) - 1
    row = np.arange(len(bars))
    first_row = firsts[group]  # of the row's symbol
    after_last = np.r_[firsts[1:], len(bars)][group]

    def shifted(values: np.ndarray, periods: int) -> np.ndarray:
        """values `periods` rows back (forward if negative) within the symbol, else NaN."""
        out = np.full(len(values), np.nan)
        if periods > 0:
            out[periods:] = values[:-periods]
            out[row - periods < first_row] = np.nan
        else:
            out[:periods] = values[-periods:]
            out[row - periods >= after_last] = np.nan
        return out

    def rolling(values: np.ndarray, window: int) -> Rolling:
        bounds = _WindowInSymbol(window_size=window, first_row=first_row)
        return pd.Series(values).rolling(bounds, min_periods=window)

    close, volume = bars["close"].to_numpy(), bars["volume"].to_numpy()
    out = pd.DataFrame({"symbol": bars["symbol"], "time": bars["time"]})
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero price gives inf or NaN, as pandas' own division does
        for horizon in RETURN_HORIZONS:
            out[f"ret_{horizon}"] = close / shifted(close, horizon) - 1
        volatility = rolling(out["ret_1"].to_numpy(), VOLATILITY_WINDOW).std()
        out[f"volatility_{VOLATILITY_WINDOW}"] = volatility.to_numpy()
        out[f"volume_ratio_{VOLUME_WINDOW}"] = volume / rolling(volume, VOLUME_WINDOW).mean().to_numpy()
        out["range"] = (bars["high"].to_numpy() - bars["low"].to_numpy()) / close
        out[TARGET] = shifted(close, -TARGET_HORIZON) / close - 1
    return out


class _WindowInSymbol(BaseIndexer):
    """A trailing window of `window_size` rows cut at the first row of the row's symbol.

    pandas restarts a rolling sum where a window does not overlap the one before, that is at each symbol's first
    row, so each symbol's figures are the ones a rolling window over that symbol alone gives, to the last bit.
    """

    first_row: np.ndarray

    def get_window_bounds(
        self, num_values: int = 0, min_periods: int | None = None, center: bool | None = None,
        closed: str | None = None, step: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        end = np.arange(1, num_values + 1, dtype=np.int64)
        return np.maximum(end - self.window_size, self.first_row).astype(np.int64), end


def build_round(prices: Iterable[pd.DataFrame]) -> BuiltRound:
    bars = pd.concat(list(prices), ignore_index=True)
    table = _features(bars)
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
