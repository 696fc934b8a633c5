"""Resolving a round from the market feed, through a real server on SQLite and PostgreSQL: each symbol's
realised return from its bars at the round's data end and its horizon later; refused, naming the symbols,
while their bars do not reach that far; `returns` given still win."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from mlmp_marketplace.v1 import catalog_pb2, datasets_pb2, datasets_pb2_grpc
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.feed_client import FeedClient, daily_closes
from tests.helpers.market import Market, batch, signal
from tests.helpers.rounds import publish_request

SYMBOLS = ["EEE", "FFF", "GGG"]
DATA_END = datetime(2026, 2, 2, tzinfo=UTC)  # a round of daily bars, 5 bars of horizon (the defaults)
DAY = timedelta(days=1)


def at(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@pytest.fixture
def round_market(server, channel, auth, admin) -> Market:
    """A round of SYMBOLS whose data ends at DATA_END, and a vendor `acme` that deploys and reads the catalog."""
    datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(
        publish_request({"train": b"x"}, symbols=SYMBOLS, data_end_time=at(DATA_END)), metadata=admin
    )
    token = create_vendor_token(auth, admin, scopes=("deploy:write", "signals:read", "catalog:read")).secret
    return Market.over(server, channel, admin, bearer(token))


def resolve(market: Market, returns: dict[str, float] | None = None) -> datasets_pb2.Round:
    request = datasets_pb2.ResolveRoundRequest(
        number=1, returns=[datasets_pb2.SymbolReturn(symbol=s, realized_return=r) for s, r in (returns or {}).items()]
    )
    return market.datasets.ResolveRound(request, metadata=market.admin)


def test_a_round_resolves_from_the_feed_once_every_symbols_bars_reach_its_horizon(round_market: Market, server):
    feed = FeedClient(server)
    good = round_market.deploy(name="good")
    round_market.stream(good.token, [batch(1, signal("EEE", score=0.9), signal("FFF", score=-0.5),
                                           signal("GGG", score=0.1))])  # fmt: skip
    # EEE: 100 at the data end, 110 five days later; FFF 50 → 45; GGG has bars only up to the data end.
    feed.publish(daily_closes("EEE", DATA_END - DAY, [99, 100, 101, 102, 103, 104, 110, 111]))
    feed.publish(daily_closes("FFF", DATA_END, [50, 49, 48, 47, 46, 45]))
    feed.publish(daily_closes("GGG", DATA_END - 3 * DAY, [20, 21, 22, 23]))
    with pytest.raises(grpc.RpcError) as refused:
        resolve(round_market)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    message = refused.value.details()
    assert "GGG (newest bar 2026-02-02 00:00)" in message
    assert "2026-02-07 00:00" in message  # the first bar time that would do
    assert "EEE" not in message
    assert "FFF" not in message
    unchanged = round_market.datasets.GetRound(datasets_pb2.GetRoundRequest(number=1), metadata=round_market.admin)
    assert unchanged.state != datasets_pb2.ROUND_STATE_RESOLVED

    feed.publish(daily_closes("GGG", DATA_END + 5 * DAY, [22]))  # a gap: its first bar at or after the horizon
    resolved = resolve(round_market)
    assert resolved.state == datasets_pb2.ROUND_STATE_RESOLVED
    entry = round_market.catalog.GetCatalogEntry(
        catalog_pb2.GetCatalogEntryRequest(vendor="acme"), metadata=round_market.acme
    )
    (model,) = entry.models
    # Returns: EEE +10% (110 / 100), FFF -10% (45 / 50), GGG -4.3% (22 / 23): views in their order
    assert model.scored_rounds == 1
    assert model.round_scores[0].score > 0.9
    assert model.round_scores[0].symbols == 3


def test_a_symbol_without_bars_or_without_a_start_price_is_named(round_market: Market, server):
    feed = FeedClient(server)
    feed.publish(daily_closes("EEE", DATA_END + DAY, [100, 101, 102, 103, 104, 105, 106]))  # starts after the data end
    feed.publish(daily_closes("FFF", DATA_END, [50, 49, 48, 47, 46, 45]))
    with pytest.raises(grpc.RpcError) as refused:
        resolve(round_market)
    message = refused.value.details()
    assert "EEE (no bar at or before 2026-02-02 00:00)" in message
    assert "GGG (no bars)" in message
    assert "2 symbol(s)" in message


def test_returns_given_still_resolve_without_bars(round_market: Market):
    resolved = resolve(round_market, {"EEE": 0.01, "FFF": -0.02, "GGG": 0.0})
    assert resolved.state == datasets_pb2.ROUND_STATE_RESOLVED
