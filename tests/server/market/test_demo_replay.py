"""A fresh install's demo market: the demo round's synthetic history is stored as bars, then new bars continue
it in time at the configured pace, each a valid bar, on the next business day."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC

import grpc

from mlmp_marketplace.v1 import market_pb2, market_pb2_grpc
from mlmp_server.datasets.synthetic import SYMBOLS
from tests.helpers.auth import bearer
from tests.helpers.server_thread import ServerThread

HISTORY = 400  # days of the demo round's synthetic prices (server/datasets/synthetic.py)


def test_the_demo_replay_stores_the_history_then_continues_it(settings):
    server = ServerThread(replace(settings, demo_round=True, demo_replay_speed=86400 / 0.2)).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            market = market_pb2_grpc.MarketServiceStub(channel)
            admin = bearer(server.admin_token)
            deadline = time.monotonic() + 60
            while True:
                symbols = market.ListMarketSymbols(market_pb2.ListMarketSymbolsRequest(), metadata=admin).symbols
                if len(symbols) == len(SYMBOLS) and min(s.bar_count for s in symbols) >= HISTORY + 3:
                    break
                assert time.monotonic() < deadline, f"no new demo bars: {symbols}"
                time.sleep(0.2)
            assert sorted(s.symbol for s in symbols) == sorted(SYMBOLS)
            newest = market.ListBars(
                market_pb2.ListBarsRequest(symbol=SYMBOLS[0], newest_first=True, page_size=HISTORY + 2), metadata=admin
            ).bars
            times = [bar.time.ToDatetime(tzinfo=UTC) for bar in reversed(newest)]
            assert all(later > earlier for earlier, later in zip(times, times[1:], strict=False))
            assert all(t.weekday() < 5 for t in times)  # business days, as the history
            for bar in newest:
                assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
                assert bar.low > 0
    finally:
        server.stop()
