"""The feature worker computes each new bar's features with the round builder's own code: fed a history one bar
at a time, it gives every live row of the round built from the same price files."""

from __future__ import annotations

import asyncio
import os
import signal

import numpy as np
import pandas as pd
import pytest

from mlmp_cli.rounds.features import FEATURES, build_round, encode, read_price_bytes
from mlmp_server.features.worker import Bar, FeatureWorker, FeatureWorkerError
from tests.helpers.bar_history import price_files

TOLERANCE = 1e-12


def bars_by_time(prices: pd.DataFrame) -> list[list[Bar]]:
    """The bars as a feed brings them: every symbol's bar of one time together, time after time."""
    bars = [
        Bar(row.symbol, row.time.to_pydatetime(), row.open, row.high, row.low, row.close, row.volume)
        for row in prices.sort_values(["time", "symbol"]).itertuples()
    ]
    batches: dict[object, list[Bar]] = {}
    for bar in bars:
        batches.setdefault(bar.time, []).append(bar)
    return list(batches.values())


def assert_rows_equal(streamed: dict[tuple[str, pd.Timestamp], dict[str, float]], live: pd.DataFrame) -> None:
    assert len(live) > 0
    for row in live.itertuples():
        values = streamed[(row.symbol, row.time)]
        assert list(values) == list(FEATURES)
        for name in FEATURES:
            assert values[name] == pytest.approx(getattr(row, name), rel=TOLERANCE, abs=TOLERANCE), (row, name)


async def feed(worker: FeatureWorker, batches: list[list[Bar]], kill_at: int | None = None):
    streamed = {}
    for index, batch in enumerate(batches):
        if index == kill_at:
            os.kill(worker.pid, signal.SIGKILL)  # type: ignore[arg-type]
            await asyncio.sleep(0.2)
        for row in await worker.add_bars(batch):
            streamed[(row.symbol, pd.Timestamp(row.time))] = row.values
    return streamed


@pytest.mark.parametrize("arriving", ["a time at a time", "all at once"])
def test_bars_fed_to_the_worker_give_the_published_rounds_rows(arriving):
    prices = pd.concat([read_price_bytes(name, data) for name, data in price_files().items()], ignore_index=True)
    built = build_round([prices])
    batches = bars_by_time(prices)
    if arriving == "all at once":  # a replayed history: one request, one _features call
        batches = [[bar for batch in batches for bar in batch]]

    async def run():
        worker = FeatureWorker()
        try:
            return await feed(worker, batches), worker.window
        finally:
            await worker.close()

    streamed, window = asyncio.run(run())
    assert window == 21  # ret_20 looks 20 bars back; the 20-bar volatility is of one-bar returns
    assert_rows_equal(streamed, built.tables["live"])
    assert_rows_equal(streamed, built.tables["train"])  # every usable row, not only the last ones
    # every bar after its symbol's warm-up gives a row; the warm-up none, as the builder's dropna drops it
    assert len(streamed) == len(prices) - (window - 1) * len(built.symbols)


def test_a_worker_killed_mid_feed_is_restarted_with_its_history_and_answers_the_same():
    prices = pd.concat([read_price_bytes(name, data) for name, data in price_files(5).items()], ignore_index=True)
    built = build_round([prices])

    async def run():
        worker = FeatureWorker()
        try:
            first = (await worker.start(), worker.pid)[1]
            streamed = await feed(worker, bars_by_time(prices), kill_at=150)
            return streamed, first, worker.pid, worker.starts
        finally:
            await worker.close()

    streamed, first_pid, last_pid, starts = asyncio.run(run())
    assert starts == 2
    assert first_pid != last_pid
    assert_rows_equal(streamed, built.tables["live"])


def test_the_newest_live_row_of_each_symbol_from_a_round_file(tmp_path):
    prices = pd.concat([read_price_bytes(name, data) for name, data in price_files().items()], ignore_index=True)
    live = build_round([prices]).tables["live"]

    async def run(file_format):
        worker = FeatureWorker()
        try:
            (tmp_path / f"live.{file_format}").write_bytes(encode(live, file_format))
            return await worker.live_rows(str(tmp_path / f"live.{file_format}"), file_format)
        finally:
            await worker.close()

    for file_format in ("parquet", "csv"):
        rows = asyncio.run(run(file_format))
        assert [row.symbol for row in rows] == ["AAA", "BBB", "CCC"]
        newest = live.sort_values("time").groupby("symbol").tail(1).set_index("symbol")
        for row in rows:
            assert pd.Timestamp(row.time) == newest.loc[row.symbol, "time"]
            assert row.values["ret_1"] == pytest.approx(newest.loc[row.symbol, "ret_1"], rel=TOLERANCE)


def test_an_unreadable_live_file_is_that_requests_error_and_the_worker_goes_on(tmp_path):
    async def run():
        worker = FeatureWorker()
        try:
            (tmp_path / "live.parquet").write_bytes(b"not parquet")
            with pytest.raises(FeatureWorkerError, match="Parquet"):
                await worker.live_rows(str(tmp_path / "live.parquet"), "parquet")
            return worker.starts, await worker.add_bars([Bar("X", pd.Timestamp("2026-01-01", tz="UTC"), 1, 1, 1, 1, 1)])
        finally:
            await worker.close()

    starts, rows = asyncio.run(run())
    assert starts == 1
    assert rows == []  # one bar is warm-up


def test_one_bar_fewer_than_the_window_leaves_the_volatility_unknown():
    """The window is the shortest that gives every feature: W - 1 bars leave a NaN, so W is derived right."""
    from mlmp_server.features import child

    frame = pd.DataFrame({"time": pd.date_range("2026-01-01", periods=40, freq="D", tz="UTC"), "open": 1.0,
                          "high": 1.1, "low": 0.9, "close": np.linspace(1, 2, 40), "volume": 10.0})  # fmt: skip
    bars = [("S", t.isoformat(), *values) for t, *values in frame.itertuples(index=False)]
    short, full = child.Windows(child.WINDOW - 1), child.Windows(child.WINDOW)
    assert [row for bar in bars for row in short.add([bar])] == []
    assert len([row for bar in bars for row in full.add([bar])]) == len(bars) - (child.WINDOW - 1)
    assert len(child.Windows(child.WINDOW).add(bars)) == len(bars) - (child.WINDOW - 1)  # all at once: the same
