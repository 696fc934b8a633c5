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
    closes = {"AAA": [100, 101, 103, 110], "BBB": [50, 50, 49, 51], "CCC": [20, 21, 20, 18], "DDD": [10, 10, 9, 8]}
    feed.publish([bar for symbol, prices in closes.items() for bar in daily_closes(symbol, T0, prices[:3])])
    # Signals on day 1 with a two-day horizon: scored at day 3's bar, against close(day 3) / close(day 1) - 1.
    views = {"AAA": 0.9, "BBB": 0.3, "CCC": -0.2, "DDD": -0.8}  # the order of the returns to come
    for token, sign in [(good.token, 1), (bad.token, -1)]:
        signals = [signal(s, score=sign * v, generate_time=at(T0 + DAY), horizon=horizon(2)) for s, v in views.items()]
        market.stream(token, [batch(1, *signals)])
    time.sleep(2.5)  # two turns of the scorer: nothing is due before day 3
    assert {name: model.HasField("score") for name, model in models(market).items()} == {"good": False, "bad": False}

    feed.publish([bar for symbol, prices in closes.items() for bar in daily_closes(symbol, T0 + 3 * DAY, prices[3:])])
    found = wait_for_scores(market, {"good": 4, "bad": 4})
    assert found["good"].score.rank_correlation == pytest.approx(1.0)
    assert found["bad"].score.rank_correlation == pytest.approx(-1.0)
    assert (found["good"].score.hit_rate, found["bad"].score.hit_rate) == (1.0, 0.0)
    assert found["good"].score.window == 1000
    assert found["good"].score.latest_signal_time.ToDatetime(UTC) == T0 + DAY
    listed = market.catalog.ListCatalog(
        catalog_pb2.ListCatalogRequest(order_by=catalog_pb2.CATALOG_ORDER_SCORE), metadata=market.acme
    )
    assert {m.name: m.score.scored_signals for m in listed.entries[0].models} == {"good": 4, "bad": 4}


def test_a_signal_before_the_first_bar_is_never_scored(market: Market, feed: FeedClient):
    early = market.deploy(name="early")
    market.stream(early.token, [batch(1, signal("AAA", generate_time=at(T0 - DAY), horizon=horizon(1)),
                                      signal("BBB", generate_time=at(T0), horizon=horizon(1)))])  # fmt: skip
    feed.publish(daily_closes("AAA", T0, [100, 101, 102]) + daily_closes("BBB", T0, [50, 52, 51]))
    found = wait_for_scores(market, {"early": 1})  # BBB's only: AAA's has no price to start from
    assert found["early"].score.hit_rate == 1.0  # BBB rose, and its view was +0.5
    assert not found["early"].score.HasField("rank_correlation")  # one signal: no correlation


def test_live_scores_match_pandas_on_the_stored_data(market: Market, feed: FeedClient):
    """The contract's definition, in pandas over the stored signals and bars, gives the catalog's numbers:
    views with ties (actions without a score), flat bars (returns of 0), horizons of several lengths."""
    rng = random.Random(14)
    prices = {s: [round(100 * (1 + rng.choice([-0.02, -0.01, 0.0, 0.0, 0.01, 0.03])) ** k, 4) for k in range(12)]
              for s in SYMBOLS}  # fmt: skip
    for s in SYMBOLS:  # flat stretches: some returns are exactly 0
        prices[s][6] = prices[s][5]
    deployments = {name: market.deploy(name=name) for name in ("alpha", "beta")}
    feed.publish([bar for s in SYMBOLS for bar in daily_closes(s, T0, prices[s][:4])])
    sequence = 0
    for day in range(1, 9):
        for created in deployments.values():
            sequence += 1
            signals = []
            for s in SYMBOLS:
                fields = {"generate_time": at(T0 + day * DAY + timedelta(hours=rng.choice([0, 6]))),
                          "horizon": horizon(rng.choice([1, 2, 3]))}  # fmt: skip
                if rng.random() < 0.4:
                    action = rng.choice([signals_pb2.ACTION_BUY, signals_pb2.ACTION_SELL, signals_pb2.ACTION_HOLD])
                    signals.append(signal(s, score=None, action=action, **fields))
                else:
                    signals.append(signal(s, score=rng.choice([-0.5, 0.0, 0.25, 0.5, 1.0]), **fields))
            market.stream(created.token, [batch(sequence, *signals)])
    feed.publish([bar for s in SYMBOLS for bar in daily_closes(s, T0 + 4 * DAY, prices[s][4:])])

    expected = pandas_scores(*feed.stored(Signal, MarketBar), window=1000)
    found = wait_for_scores(market, {name: int(expected[created.deployment.id][2])
                                     for name, created in deployments.items()})  # fmt: skip
    for name, created in deployments.items():
        rank, hits, n = expected[created.deployment.id]
        assert found[name].score.rank_correlation == pytest.approx(rank, abs=1e-12), name
        assert found[name].score.hit_rate == pytest.approx(hits), name
        assert n > 20


def pandas_scores(signals: pd.DataFrame, bars: pd.DataFrame, window: int) -> dict[str, tuple[float, float, int]]:
    """The LiveScore comment of catalog.proto, in pandas: deployment → (rank correlation, hit rate, signals)."""
    signals = signals.assign(
        view=signals.score.fillna(signals.action.map({1: 1.0, 2: -1.0, 3: 0.0})),
        t=signals.generated_at,
        due=signals.generated_at + pd.to_timedelta(signals.horizon_seconds, unit="s"),
    )
    bars = bars.sort_values("time")
    entry = pd.merge_asof(signals.sort_values("t"), bars, left_on="t", right_on="time", by="symbol")  # last <= t
    exit_ = pd.merge_asof(signals.sort_values("due"), bars, left_on="due", right_on="time", by="symbol",
                          direction="forward")  # first >= t + h  # fmt: skip
    r = exit_.set_index("id").close / entry.set_index("id").close - 1
    scored = signals.set_index("id").assign(r=r).dropna(subset=["r"]).reset_index()
    found = {}
    for deployment_id, rows in scored.groupby("deployment_id"):
        w = rows.sort_values(["t", "id"]).tail(window)
        found[deployment_id] = (w.view.rank().corr(w.r.rank()), (w.view * w.r > 0).mean(), len(w))
    return found
