"""Round files from OHLCV price files: a feature table per symbol and time, split by time.

Input: one CSV per symbol (the symbol from a `Symbol` column or the file name), gzip-compressed or not, with a
date/time column and Open, High, Low, Close, Volume (any letter case; `Adj Close` stands in for a missing Close).
The time is a column named Date, Datetime, Time or Timestamp, or the unnamed first column that pandas' `to_csv()`
writes for an index; ISO 8601 with or without a time zone, or seconds or milliseconds since the epoch. Bad input
is refused with the file, line and column. Features use only the past; the target is the forward return over
TARGET_HORIZON bars. Each symbol's rows are split by its own history into train / validation / live, so symbols
whose histories cover different periods each get all three; rows whose target window would reach into the next
split are dropped, so no split sees the one after it. Live rows carry no target: it lies in the future.
"""

from __future__ import annotations

import gzip
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
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
UNNAMED_FIRST = ("", "unnamed: 0", "index")  # how a first column without a header reads: pandas' own index
ALIASES = {"close": ("adj close", "adj_close", "adjclose")}  # read where the column itself is missing
EPOCH_MILLISECONDS_FROM = 1e11  # larger epoch numbers are milliseconds (1e11 s is the year 5138)
EPOCH_SECONDS_FROM = 1e8  # smaller integers are not epoch times (20260131 is a date written as a number)
GAP_SAMPLE = 20_000  # gaps between bars the bar length's median is taken over, at most
MIN_USABLE_BARS = 3 * (TARGET_HORIZON + 1)  # after the warm-up: enough for a train, validation and live share
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
class SymbolSplit:
    """What one symbol contributes: its rows per split and the time range of its usable bars."""

    symbol: str
    rows: dict[str, int]
    start: pd.Timestamp
    end: pd.Timestamp
    bar: pd.Timedelta  # the median time between its bars


@dataclass(frozen=True)
class BuiltRound:
    tables: dict[str, pd.DataFrame]  # split name → rows
    symbols: list[str]
    start: pd.Timestamp
    end: pd.Timestamp
    per_symbol: list[SymbolSplit] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # symbol → why it has no rows
    bar_seconds: int = 86400  # the round's bar length: the median gap between consecutive bars of a symbol
    horizon_bars: int = TARGET_HORIZON  # the target's horizon in bars; in time, horizon_bars × bar_seconds

    @property
    def horizon_seconds(self) -> int:
        return self.horizon_bars * self.bar_seconds


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
    time_name = _time_column(list(raw.columns))
    times = raw[time_name] if time_name is not None else None
    symbols = by_name.get("symbol")
    if times is None or raw.empty or not isinstance(raw.index, pd.RangeIndex):
        return None
    if symbols is not None and not is_string_dtype(symbols):
        return None
    epoch = _epoch_unit(times) if times.dtype.kind in "iu" else None
    if epoch is None and not is_string_dtype(times):
        return None  # e.g. dates written as 20260101, read as integers
    bars = {}
    for price in PRICE_COLUMNS:
        column = _price_column(by_name, price)
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
    if epoch is not None:
        times = pd.to_datetime(times, unit=epoch, utc=True)
    else:
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
    for price, aliases in ALIASES.items():
        if price not in columns and (alias := next((a for a in aliases if a in columns), None)):
            columns[price] = columns[alias]
    time_column = _time_column(list(raw.columns))
    missing = [c.capitalize() for c in PRICE_COLUMNS if c not in columns]
    if time_column is None:
        missing.insert(0, "Date")
    if missing:
        found = ", ".join(raw.columns) or "nothing"
        raise PriceDataError(f"{name}: missing column {', '.join(missing)} (found: {found})")
    assert time_column is not None
    if raw.empty:
        raise PriceDataError(f"{name}: no rows")
    cells = raw[time_column].str.strip()
    numbers = pd.to_numeric(cells, errors="coerce")
    epoch = _epoch_unit(numbers) if numbers.notna().all() and (numbers % 1 == 0).all() else None
    if epoch is not None:
        times = pd.to_datetime(numbers.astype("int64"), unit=epoch, utc=True)
    else:
        times = pd.to_datetime(cells, errors="coerce", utc=True, format="mixed")
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


def _time_column(columns: list[str]) -> str | None:
    """The column holding the times: a named one, else an unnamed first column (an index written by pandas)."""
    named = {column.strip().lower(): column for column in columns}
    found = next((named[c] for c in TIME_COLUMNS if c in named), None)
    if found is None and columns and columns[0].strip().lower() in UNNAMED_FIRST:
        return columns[0]
    return found


def _price_column(by_name: dict[str, pd.Series], price: str) -> pd.Series | None:
    return by_name.get(price, next((by_name[a] for a in ALIASES.get(price, ()) if a in by_name), None))


def _epoch_unit(numbers: pd.Series) -> str | None:
    """"ms" or "s" for whole numbers that are times since the epoch, else None (e.g. 20260131, a date)."""
    if numbers.empty or numbers.min() < EPOCH_SECONDS_FROM:
        return None
    return "ms" if numbers.min() >= EPOCH_MILLISECONDS_FROM else "s"


def read_price_file(path: Path) -> pd.DataFrame:
    """One file's bars, gzip-compressed or not."""
    return read_price_bytes(path.name, path.read_bytes())


def read_price_bytes(name: str, data: bytes) -> pd.DataFrame:
    """One file's bars from its bytes: gzip-compressed or not (a `.gz` suffix is not part of the symbol's name),
    UTF-8 with or without a spreadsheet's byte-order mark."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise PriceDataError(f"{name}: not a readable gzip file ({error})") from None
        name = name.removesuffix(".gz").removesuffix(".GZ")
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is not part of the first column's name
    except UnicodeDecodeError as error:
        raise PriceDataError(
            f"{name}: not UTF-8 text (byte {error.start} is {data[error.start : error.start + 1]!r})"
        ) from None
    return read_prices(name, text)


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
    """Features for every symbol, each symbol split by its own usable bars; a symbol with too few is left out
    (named in `left_out`, with the reason) and only a round with no symbol left is refused."""
    bars = pd.concat(list(prices), ignore_index=True)
    table = _features(bars)  # sorted by symbol, then time
    table = table.dropna(subset=list(FEATURES)).reset_index(drop=True)  # the warm-up of each rolling window
    usable = table.groupby("symbol", sort=True)["time"].size()
    all_symbols = sorted(bars["symbol"].unique())
    left_out = {
        symbol: f"{usable.get(symbol, 0)} usable bars after a {max(RETURN_HORIZONS)}-bar warm-up; "
        f"a symbol needs at least {MIN_USABLE_BARS}"
        for symbol in all_symbols
        if usable.get(symbol, 0) < MIN_USABLE_BARS
    }
    if len(left_out) == len(all_symbols):
        counts = ", ".join(f"{s} {usable.get(s, 0)}" for s in all_symbols[:10])
        raise PriceDataError(
            f"too little history: usable bars after a {max(RETURN_HORIZONS)}-bar warm-up: {counts}; "
            f"a symbol needs at least {MIN_USABLE_BARS}"
        )
    table = table[~table["symbol"].isin(list(left_out))].reset_index(drop=True)
    split_of, embargoed = _split_each_symbol(table["symbol"].to_numpy())
    tables = {}
    for index, (split, _) in enumerate(SPLITS):
        rows = table[split_of == index].copy()
        if split == "live":
            rows[TARGET] = float("nan")
        else:
            # Embargo: a target reaching past this split's last bar would see the next split.
            rows = rows[~embargoed[split_of == index]].dropna(subset=[TARGET])
        tables[split] = rows.sort_values(["time", "symbol"]).reset_index(drop=True)
    return BuiltRound(
        tables, sorted(table["symbol"].unique()), table["time"].min(), table["time"].max(),
        per_symbol=_per_symbol(table, tables), left_out=left_out, bar_seconds=bar_seconds(table),
    )  # fmt: skip


def bar_seconds(table: pd.DataFrame) -> int:
    """The bar length of rows sorted by symbol then time: the median gap between consecutive bars of a symbol, in
    whole seconds (at least 1). Weekends and holidays are rare gaps, so daily bars give 86400 and hourly 3600.
    The median is taken over at most GAP_SAMPLE gaps spread evenly over the rows: the full one cost 5-9% of a
    500k-row build (converting the Arrow symbol column and a 500k median), this one 0.8% (23 ms)."""
    nanos = pd.DatetimeIndex(table["time"]).as_unit("ns").asi8
    at = np.arange(1, len(nanos), max(1, len(nanos) // GAP_SAMPLE))
    symbol = table["symbol"]  # only the sampled rows' symbols are converted (an Arrow column's whole costs more)
    same = symbol.iloc[at].to_numpy() == symbol.iloc[at - 1].to_numpy()
    gaps = (nanos[at] - nanos[at - 1])[same]
    if not len(gaps):
        return 86400
    return max(1, round(float(np.median(gaps)) / 1e9))


def _split_each_symbol(symbol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by symbol then time: each row's split (an index into SPLITS), cut by the shares of its own
    symbol's rows, and whether it is among the last TARGET_HORIZON rows of its split (the embargo)."""
    starts = np.r_[True, symbol[1:] != symbol[:-1]]
    firsts = np.flatnonzero(starts)
    sizes = np.diff(np.r_[firsts, len(symbol)])
    group = np.cumsum(starts) - 1
    rank = np.arange(len(symbol)) - firsts[group]
    ends = np.zeros((len(SPLITS), len(sizes)), dtype=np.int64)  # each split's end rank, per symbol
    start = np.zeros(len(sizes), dtype=np.int64)
    for index, (_, share) in enumerate(SPLITS):
        ends[index] = sizes if index == len(SPLITS) - 1 else start + np.rint(sizes * share).astype(np.int64)
        start = ends[index]
    split_of = np.zeros(len(symbol), dtype=np.int64)
    for index in range(len(SPLITS) - 1):
        split_of += rank >= ends[index][group]
    split_start = np.where(split_of == 0, 0, ends[np.maximum(split_of - 1, 0), group])
    embargo_from = np.maximum(split_start, ends[split_of, group] - TARGET_HORIZON)
    return split_of, rank >= embargo_from


def _per_symbol(usable: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> list[SymbolSplit]:
    times = usable.groupby("symbol", sort=True)["time"]
    counts = {split: table.groupby("symbol")["time"].size() for split, table in tables.items()}
    bars = times.agg(lambda column: column.diff().median())
    return [
        SymbolSplit(symbol, {split: int(counts[split].get(symbol, 0)) for split in tables}, first, last, bars[symbol])
        for symbol, first, last in zip(times.min().index, times.min(), times.max(), strict=True)
    ]


def encode(frame: pd.DataFrame, file_format: str) -> bytes:
    buffer = io.BytesIO()
    if file_format == "parquet":
        frame.to_parquet(buffer, index=False)
    else:
        frame.to_csv(buffer, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    return buffer.getvalue()
