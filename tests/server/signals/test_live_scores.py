"""Live scores through a real server, on SQLite and PostgreSQL: bars arrive, the signals whose horizon has
passed are scored against the realised return, the catalog shows each model's score, and pandas, reading the
stored signals and bars, computes the same numbers from the contract's definition."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from mlmp_marketplace.v1 import catalog_pb2, signals_pb2
from mlmp_server.db.models import MarketBar, Signal
from tests.helpers.feed_client import FeedClient, daily_closes
from tests.helpers.market import SYMBOLS, Market, batch, signal

T0 = datetime(2026, 1, 5, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def feed(market: Market) -> FeedClient:
    return FeedClient(market.server)


def at(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def horizon(days: int) -> Duration:
    return Duration(seconds=days * 86400)


def models(market: Market) -> dict[str, catalog_pb2.CatalogModel]:
    entry = market.catalog.GetCatalogEntry(catalog_pb2.GetCatalogEntryRequest(vendor="acme"), metadata=market.acme)
    return {model.name: model for model in entry.models}


def wait_for_scores(market: Market, expected_signals: dict[str, int], timeout: float = 30.0):
    """The models once each rests on the expected number of scored signals (the scorer turns every second)."""
    deadline = time.monotonic() + timeout
    while True:
        found = models(market)
        counts = {name: found[name].score.scored_signals for name in expected_signals}
        if counts == expected_signals:
            return found
        assert time.monotonic() < deadline, f"scored signals {counts}, expected {expected_signals}"
        time.sleep(0.3)


def test_signals_are_scored_once_bars_pass_their_horizon(market: Market, feed: FeedClient):
    good, bad = market.deploy(name="good"), market.deploy(name="bad")
    closes = {"AAA": [100, 101, 103, 105, 110], "BBB": [50, 50, 49, 49, 50], "CCC": [20, 21, 20, 20, 19],
              "DDD": [10, 10, 9, 8, 7]}  # fmt: skip
    feed.publish([bar for symbol, prices in closes.items() for bar in daily_closes(symbol, T0, prices[:3])])
    # Made after day 2's bars (t = day 2; their generate_time says nothing of it), with a two-day horizon:
    # scored at day 4's bar, against close(day 4) / close(day 2) - 1: AAA +6.8%, BBB +2.0%, CCC -5%, DDD -22%.
    views = {"AAA": 0.9, "BBB": 0.3, "CCC": -0.2, "DDD": -0.8}
    for token, sign in [(good.token, 1), (bad.token, -1)]:
        signals = [signal(s, score=sign * v, generate_time=at(T0 - 30 * DAY), horizon=horizon(2))
                   for s, v in views.items()]  # fmt: skip
        market.stream(token, [batch(1, *signals)])
    feed.publish([bar for symbol, prices in closes.items() for bar in daily_closes(symbol, T0 + 3 * DAY, prices[3:4])])
    time.sleep(2.5)  # two turns of the scorer at least: nothing is due before day 4
    assert {name: model.HasField("score") for name, model in models(market).items()} == {"good": False, "bad": False}

    feed.publish([bar for symbol, prices in closes.items() for bar in daily_closes(symbol, T0 + 4 * DAY, prices[4:])])
    found = wait_for_scores(market, {"good": 4, "bad": 4})
    assert found["good"].score.rank_correlation == pytest.approx(1.0)
    assert found["bad"].score.rank_correlation == pytest.approx(-1.0)
    assert (found["good"].score.hit_rate, found["bad"].score.hit_rate) == (1.0, 0.0)
    assert found["good"].score.window == 1000
    assert found["good"].score.latest_signal_time.ToDatetime(UTC) == T0 + 2 * DAY
    listed = market.catalog.ListCatalog(
        catalog_pb2.ListCatalogRequest(order_by=catalog_pb2.CATALOG_ORDER_SCORE), metadata=market.acme
    )
    assert {m.name: m.score.scored_signals for m in listed.entries[0].models} == {"good": 4, "bad": 4}


def test_a_signal_stored_before_any_bar_of_its_symbol_is_never_scored(market: Market, feed: FeedClient):
    early = market.deploy(name="early")
    feed.publish(daily_closes("BBB", T0, [50]))
    market.stream(early.token, [batch(1, signal("AAA", horizon=horizon(1)), signal("BBB", horizon=horizon(1)))])
    feed.publish(daily_closes("AAA", T0, [100, 101, 102]) + daily_closes("BBB", T0 + DAY, [52, 51]))
    found = wait_for_scores(market, {"early": 1})  # BBB's only: AAA's came before its first bar
    assert found["early"].score.hit_rate == 1.0  # BBB rose (50 → 52), and its view was +0.5
    assert not found["early"].score.HasField("rank_correlation")  # one signal: no correlation


def test_live_scores_match_pandas_on_the_stored_data(market: Market, feed: FeedClient):
    """The contract's definition, run as catalog.proto's LiveScore comment writes it in pandas over the stored
    signals and bars, gives the catalog's numbers: views with ties (actions without a score), flat bars
    (returns of 0), horizons of several lengths, signals made after bars of different days."""
    rng = random.Random(14)
    prices = {s: [round(100 * (1 + rng.choice([-0.02, -0.01, 0.0, 0.0, 0.01, 0.03])) ** k, 4) for k in range(14)]
              for s in SYMBOLS}  # fmt: skip
    for s in SYMBOLS:  # flat stretches: some returns are exactly 0
        prices[s][7] = prices[s][6]
    deployments = {name: market.deploy(name=name) for name in ("alpha", "beta")}
    sequence = 0
    for day in range(10):
        feed.publish([bar for s in SYMBOLS for bar in daily_closes(s, T0 + day * DAY, prices[s][day : day + 1])])
        for created in rng.sample(list(deployments.values()), rng.choice([0, 1, 2])):
            sequence += 1
            signals = []
            for s in SYMBOLS:
                if rng.random() < 0.4:
                    action = rng.choice([signals_pb2.ACTION_BUY, signals_pb2.ACTION_SELL, signals_pb2.ACTION_HOLD])
                    signals.append(signal(s, score=None, action=action, horizon=horizon(rng.choice([1, 2, 3]))))
                else:
                    signals.append(signal(s, score=rng.choice([-0.5, 0.0, 0.25, 0.5, 1.0]),
                                          horizon=horizon(rng.choice([1, 2, 3]))))  # fmt: skip
            market.stream(created.token, [batch(sequence, *signals)])
    feed.publish([bar for s in SYMBOLS for bar in daily_closes(s, T0 + 10 * DAY, prices[s][10:])])

    stored_signals, stored_bars = feed.stored(Signal, MarketBar)
    expected = {
        deployment_id: pandas_score(rows, stored_bars, window=1000)
        for deployment_id, rows in stored_signals.groupby("deployment_id")
    }
    found = wait_for_scores(market, {name: expected[created.deployment.id][2]
                                     for name, created in deployments.items()})  # fmt: skip
    for name, created in deployments.items():
        rank, hits, n = expected[created.deployment.id]
        assert found[name].score.rank_correlation == pytest.approx(rank, abs=1e-12), name
        assert found[name].score.hit_rate == pytest.approx(hits), name
        assert n > 10


def pandas_score(stored_signals: pd.DataFrame, stored_bars: pd.DataFrame, window: int) -> tuple[float, float, int]:
    """catalog.proto's LiveScore comment, verbatim, over one model's stored signals and the stored bars."""
    signals = pd.DataFrame({
        "id": stored_signals.id, "symbol": stored_signals.symbol, "store_time": stored_signals.stored_at,
        "view": stored_signals.score.fillna(stored_signals.action.map({1: 1.0, 2: -1.0, 3: 0.0})),
        "h": pd.to_timedelta(stored_signals.horizon_seconds, unit="s"),
    })  # fmt: skip
    bars = stored_bars.rename(columns={"received_at": "receive_time"})[["symbol", "time", "receive_time", "close"]]
    # from here on, the comment's lines
    b = pd.merge_asof(signals.sort_values("store_time"), bars.sort_values("receive_time"),
                      left_on="store_time", right_on="receive_time", by="symbol").dropna(subset=["time"])  # fmt: skip
    x = pd.merge_asof(b.assign(due=b.time + b.h).sort_values("due"), bars.sort_values("time"), left_on="due",
                      right_on="time", by="symbol", direction="forward", suffixes=("", "_x"))  # fmt: skip
    w = x.assign(r=x.close_x / x.close - 1).dropna(subset=["r"]).sort_values(["time", "id"]).tail(window)
    rank_correlation = w.view.rank().corr(w.r.rank())
    hit_rate = (w.view * w.r > 0).mean()
    return rank_correlation, hit_rate, len(w)
