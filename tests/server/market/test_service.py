"""MarketService over a real gRPC server and through the REST gateway, on SQLite and PostgreSQL: bars stored
in time order per symbol, retries idempotent, bad and conflicting bars refused with what and where, operator
and service tokens only, keyset pages, and the in-process feed of new bars."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import grpc
import httpx
import pytest

from mlmp_marketplace.v1 import auth_pb2, market_pb2, market_pb2_grpc
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.bars import START, bar, daily, stamp, stream


@pytest.fixture
def market(channel) -> market_pb2_grpc.MarketServiceStub:
    return market_pb2_grpc.MarketServiceStub(channel)


def listed(market, admin, symbol: str, **fields) -> list[market_pb2.Bar]:
    bars, token = [], ""
    while True:
        page = market.ListBars(market_pb2.ListBarsRequest(symbol=symbol, page_token=token, **fields), metadata=admin)
        bars.extend(page.bars)
        token = page.next_page_token
        if not token:
            return bars


def test_published_bars_are_stored_and_listed_in_time_order(market, admin):
    batches = stream(daily("AAA", range(0, 3)) + daily("BBB", range(0, 2)), daily("AAA", range(3, 5)))
    answer = market.PublishBars(batches, metadata=admin)
    assert (answer.stored, answer.duplicates) == (7, 0)
    extents = {s.symbol: s for s in answer.symbols}
    assert extents["AAA"].bar_count == 5
    assert extents["AAA"].last_bar_time.ToDatetime() == (START + timedelta(days=4)).replace(tzinfo=None)
    assert extents["BBB"].first_bar_time == stamp(START)
    stored = listed(market, admin, "AAA")
    assert [b.close for b in stored] == [100, 101, 102, 103, 104]
    assert all(b.receive_time.seconds > 0 for b in stored)
    assert (stored[0].open, stored[0].high, stored[0].low, stored[0].volume) == (99, 102, 98, 1000)
    symbols = market.ListMarketSymbols(market_pb2.ListMarketSymbolsRequest(), metadata=admin).symbols
    assert [(s.symbol, s.bar_count) for s in symbols] == [("AAA", 5), ("BBB", 2)]


def test_a_retried_stream_stores_nothing_twice(market, admin):
    bars = daily("AAA", range(0, 4))
    market.PublishBars(stream(bars[:2], bars[2:]), metadata=admin)
    again = market.PublishBars(stream(bars, daily("AAA", range(4, 6))), metadata=admin)
    assert (again.stored, again.duplicates) == (2, 4)
    assert len(listed(market, admin, "AAA")) == 6


def test_a_changed_bar_is_refused_and_the_stored_one_stays(market, admin):
    market.PublishBars(stream(daily("AAA", range(0, 3))), metadata=admin)
    with pytest.raises(grpc.RpcError) as refused:
        market.PublishBars(stream([bar("AAA", 1, close=101.5)]), metadata=admin)
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "message 1: bars[0]: AAA at 2026-01-06T00:00:00Z is stored with other values" in refused.value.details()
    assert [b.close for b in listed(market, admin, "AAA")] == [100, 101, 102]


def test_a_late_bar_is_refused_and_earlier_messages_stay_stored(market, admin):
    market.PublishBars(stream(daily("AAA", [0, 2])), metadata=admin)
    with pytest.raises(grpc.RpcError) as refused:
        market.PublishBars(stream(daily("BBB", range(0, 2)), [bar("AAA", 3), bar("AAA", 1)]), metadata=admin)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # out of order within its own batch
    assert (
        "message 2: bars[1].time 2026-01-06T00:00:00Z is not after message 2: bars[0].time" in refused.value.details()
    )
    with pytest.raises(grpc.RpcError) as late:
        market.PublishBars(stream([bar("AAA", 1)]), metadata=admin)
    assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "older than its newest stored bar (2026-01-07T00:00:00Z)" in late.value.details()
    assert len(listed(market, admin, "BBB")) == 2  # the first message of the failed stream was committed
    assert [b.close for b in listed(market, admin, "AAA")] == [100, 102]


@pytest.mark.parametrize(
    ("changes", "index", "words"),
    [
        ({"high": 97.0}, 1, "bars[1].high 97.0 is below its low 99.0"),
        ({"low": 100.5}, 1, "bars[1].low 100.5 is above its open 100.0"),
        ({"close": -5.0, "open": 3.0, "high": 4.0, "low": 1.0}, 1, "bars[1].close must be at least 0"),
        ({"volume": float("nan")}, 1, "bars[1].volume"),
        ({"open": float("inf")}, 1, "bars[1].open"),
    ],
)
def test_a_bad_bar_is_refused_naming_its_row_and_field(market, admin, changes, index, words):
    bars = daily("AAA", range(0, 3))
    bars[index] = bar("AAA", index, **{"close": 101.0, **changes})
    with pytest.raises(grpc.RpcError) as refused:
        market.PublishBars(stream(bars), metadata=admin)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in refused.value.details()
    assert listed(market, admin, "AAA") == []  # a message is stored all or nothing


def test_only_operator_and_market_service_tokens_publish(market, auth, admin):
    vendor = bearer(create_vendor_token(auth, admin, scopes=("market:read", "data:read")).secret)
    with pytest.raises(grpc.RpcError) as refused:
        market.PublishBars(stream(daily("AAA", range(0, 2))), metadata=vendor)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    reader = auth.CreateApiToken(auth_pb2.CreateApiTokenRequest(scopes=["market:read"]), metadata=admin).secret
    with pytest.raises(grpc.RpcError) as refused:
        market.PublishBars(stream(daily("AAA", range(0, 2))), metadata=bearer(reader))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    feeder = auth.CreateApiToken(auth_pb2.CreateApiTokenRequest(scopes=["market:write"]), metadata=admin).secret
    assert market.PublishBars(stream(daily("AAA", range(0, 2))), metadata=bearer(feeder)).stored == 2
    assert len(listed(market, vendor, "AAA")) == 2  # a vendor with market:read reads them
    with pytest.raises(grpc.RpcError) as anonymous:
        market.ListBars(market_pb2.ListBarsRequest(symbol="AAA"))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_bars_are_listed_by_keyset_pages_either_way_within_a_range(market, admin):
    market.PublishBars(stream(daily("AAA", range(0, 10)), daily("AAB", range(0, 3))), metadata=admin)
    first = market.ListBars(market_pb2.ListBarsRequest(symbol="AAA", page_size=3), metadata=admin)
    assert [b.close for b in first.bars] == [100, 101, 102]
    assert first.next_page_token
    assert [b.close for b in listed(market, admin, "AAA", page_size=3)] == [100 + d for d in range(10)]
    newest = listed(market, admin, "AAA", page_size=4, newest_first=True)
    assert [b.close for b in newest] == [100 + d for d in reversed(range(10))]
    window = listed(market, admin, "AAA", page_size=2, start_time=stamp(START + timedelta(days=2)),
                    end_time=stamp(START + timedelta(days=6)))  # fmt: skip
    assert [b.close for b in window] == [102, 103, 104, 105]
    with pytest.raises(grpc.RpcError) as refused:
        market.ListBars(market_pb2.ListBarsRequest(symbol="AAB", page_token=first.next_page_token), metadata=admin)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    symbols = market.ListMarketSymbols(market_pb2.ListMarketSymbolsRequest(page_size=1), metadata=admin)
    assert [s.symbol for s in symbols.symbols] == ["AAA"]
    assert symbols.next_page_token


def test_bars_are_published_and_read_over_rest(server, admin):
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    body = {"bars": [{"symbol": "AAA", "time": "2026-01-05T00:00:00Z", "open": 99, "high": 102, "low": 98,
                      "close": 100, "volume": 1000},
                     {"symbol": "AAA", "time": "2026-01-06T00:00:00Z", "open": 100, "high": 103, "low": 99,
                      "close": 101}]}  # fmt: skip
    stored = httpx.post(server.http_url + "/api/admin/market/bars", content=json.dumps(body), headers=headers)
    assert stored.status_code == 200, stored.text
    assert stored.json()["stored"] == "2"  # int64 in JSON
    again = httpx.post(server.http_url + "/api/admin/market/bars", content=json.dumps(body), headers=headers)
    assert again.json()["duplicates"] == "2"
    body["bars"][1]["high"] = 98.5
    bad = httpx.post(server.http_url + "/api/admin/market/bars", content=json.dumps(body), headers=headers)
    assert bad.status_code == 400
    assert "bars[1].high 98.5 is below its low 99.0" in bad.json()["message"]
    listed = httpx.get(server.http_url + "/api/market/bars", params={"symbol": "AAA", "newestFirst": "true"},
                       headers=headers).json()  # fmt: skip
    assert [b["close"] for b in listed["bars"]] == [101, 100]
    assert listed["bars"][0]["time"] == "2026-01-06T00:00:00Z"
    symbols = httpx.get(server.http_url + "/api/market/symbols", headers=headers).json()["symbols"]
    assert (symbols[0]["symbol"], symbols[0]["barCount"]) == ("AAA", "2")


def test_subscribers_of_the_feed_get_each_committed_batch_once(server, market, admin):
    feed = server.listening.feed
    everything = server.run_in_loop(lambda: _subscribe(feed))
    only_bbb = server.run_in_loop(lambda: _subscribe(feed, ["BBB"]))
    market.PublishBars(stream(daily("AAA", range(0, 2)) + daily("BBB", range(0, 2)), daily("AAA", range(2, 3))),
                       metadata=admin)  # fmt: skip
    market.PublishBars(stream(daily("AAA", range(0, 3))), metadata=admin)  # duplicates: nothing new
    with pytest.raises(grpc.RpcError):
        market.PublishBars(stream([bar("BBB", 5, high=1.0)]), metadata=admin)  # refused: nothing published
    batches = server.run_in_loop(lambda: _drain(everything))
    assert [[(b.symbol, b.close) for b in batch] for batch in batches] == [
        [("AAA", 100), ("AAA", 101), ("BBB", 100), ("BBB", 101)],
        [("AAA", 102)],
    ]
    assert [[b.symbol for b in batch] for batch in server.run_in_loop(lambda: _drain(only_bbb))] == [["BBB", "BBB"]]


async def _subscribe(feed, symbols=()):
    return feed.subscribe(symbols)


async def _drain(subscription):
    batches = []
    while not subscription.queue.empty():
        batches.append(await asyncio.wait_for(subscription.next_batch(), 1))
    return batches
