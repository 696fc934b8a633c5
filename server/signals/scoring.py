"""Scores: how well a deployment's signals foretold realised returns. The whole formula is here.

**Live score** (what the catalog shows, updated as bars arrive). A signal on `symbol` with horizon h says
`view`: its score, or without one its action (buy +1, sell -1, hold 0). It was made after bar B: the newest
bar of its symbol the feed had received when the signal was stored (bar receive_time <= signal store_time);
its time t is B's time. Its realised return is known at the symbol's first bar at or after t + h:

    r = close(first bar with time >= t + h) / close(B) - 1

A signal stored before any bar of its symbol is never scored. Why the feed's time and not the signal's
generate_time: a replay stamps bars in the feed's own time (days of history a minute), and a daily bar
stamped at its day's start closes at its end; the bar a signal could have seen is the one stored before it.
A deployment's live score rests on its last WINDOW scored signals: the scored signals with the latest t,
ties broken by the higher signal id. Over them:

- rank_correlation: Spearman's correlation of view and r (Pearson's correlation of their ranks, ties
  given their average rank); none with fewer than 2 signals, or when all views or all returns are equal;
- hit_rate: the share of them whose view has the sign of r; a view of 0 (hold) or r = 0 is a miss, so
  every signal counts in the same denominator, scored_signals;
- scored_signals: how many signals it rests on (at most WINDOW).

**Round score** (kept from before the feed: a resolved round still scores the models that signalled in it).
A deployment's score for a round is the Pearson correlation, across the round's symbols, between its mean
view per symbol and the symbol's realised return over the round; its round-based score is the mean over the
resolved rounds it signalled in. A round where it signalled fewer than two symbols, or the same view of all
of them, has no score: a correlation needs spread on both sides.

This module builds the expressions the signal store aggregates with (it runs no query itself), so
computing scores differently changes this module only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, UnaryExpression, case, func
from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_marketplace.v1.signals_pb2 import ACTION_BUY, ACTION_SELL
from mlmp_server.db.models import DeploymentScore, Signal, SignalOutcome
from mlmp_server.signals import outcomes, store

# How many scored signals a live score rests on: the latest ones. A count, not a span of days, so a score
# weighs as much for a model of daily bars as for one of minute bars, and recomputing it costs the same
# (WINDOW rows) whatever the signal rate.
WINDOW = 1000


@dataclass(frozen=True, slots=True)
class LiveScore:
    """A deployment's live score over its latest scored signals (the module's docstring defines it)."""

    rank_correlation: float | None  # None: fewer than 2 signals, or no spread in views or returns
    hit_rate: float | None  # None: no scored signal
    scored_signals: int
    window: int = WINDOW
    updated_at: datetime | None = None  # when it was stored
    latest_signal_time: datetime | None = None  # the latest signal time in its window


@dataclass(frozen=True, slots=True)
class RoundSummary:
    score: float  # the mean of its round scores
    rounds: int  # how many rounds have a score


def view_of(action: int, score: float | None) -> float:
    """What one signal says of its symbol: its score, or without one its action (buy +1, sell -1, hold 0)."""
    if score is not None:
        return score
    return 1.0 if action == ACTION_BUY else -1.0 if action == ACTION_SELL else 0.0


def due_at(signal_time: datetime, horizon_seconds: float) -> datetime:
    """When a signal's realised return is known: at its symbol's first bar at or after this (t + h)."""
    return signal_time + timedelta(seconds=horizon_seconds)


def realized_return(entry_close: float, exit_close: float) -> float | None:
    """close(first bar >= t + h) / close(the bar at t) - 1; None when the entry price is not positive."""
    if not entry_close > 0 or not math.isfinite(exit_close):
        return None
    return exit_close / entry_close - 1.0


def realized_return_of(entry_close: ColumnElement[float], exit_close: ColumnElement[float]) -> ColumnElement[float]:
    """realized_return in SQL, as the scorer stores it: NULL (void) without a positive entry price."""
    return case((entry_close > 0, exit_close / entry_close - 1.0), else_=None)


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of the ranks they span (pandas' rank(method="average"))."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1
        for position in range(start, end + 1):
            ranks[order[position]] = shared
        start = end + 1
    return ranks


def rank_correlation(views: Sequence[float], returns: Sequence[float]) -> float | None:
    """Spearman's correlation: Pearson's of the average ranks."""
    if len(views) < 2:
        return None
    return correlation(average_ranks(views), average_ranks(returns))


def hit_rate(views: Sequence[float], returns: Sequence[float]) -> float | None:
    """The share of signals whose view has the sign of the return; a view of 0 or a return of 0 is a miss."""
    if not views:
        return None
    hits = sum(1 for view, r in zip(views, returns, strict=True) if view * r > 0)
    return hits / len(views)


def live_score(views: Sequence[float], returns: Sequence[float]) -> LiveScore:
    """The live score of a window: the views and realised returns of its scored signals."""
    return LiveScore(rank_correlation(views, returns), hit_rate(views, returns), len(views))


def window_order() -> tuple[UnaryExpression[datetime], UnaryExpression[int]]:
    """The order a deployment's window is taken in: latest signal time first, then the higher signal id."""
    return SignalOutcome.signal_time.desc(), SignalOutcome.signal_id.desc()


def signal_value() -> ColumnElement[float]:
    """What one signal says of its symbol: its score, or without one its action (buy +1, sell -1, hold 0)."""
    return func.coalesce(
        Signal.score, case((Signal.action == ACTION_BUY, 1.0), (Signal.action == ACTION_SELL, -1.0), else_=0.0)
    )


def symbol_view() -> ColumnElement[float]:
    """A deployment's view of a symbol in a round: the mean of its signals' values."""
    return func.avg(signal_value())


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) < 2:
        return None
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    var_x = sum((x - mean_x) ** 2 for x in xs)
    var_y = sum((y - mean_y) ** 2 for y in ys)
    # Each root on its own: the product of two tiny variances underflows to 0 where their roots' does not.
    spread = math.sqrt(var_x) * math.sqrt(var_y)
    if spread <= 0:
        return None
    return max(-1.0, min(1.0, cov / spread))


async def score_round(
    session: AsyncSession, round_number: int, realized: dict[str, float], now: datetime
) -> list[DeploymentScore]:
    """Computes and stores the score of every deployment that signalled in the round."""
    views: dict[str, dict[str, float]] = defaultdict(dict)
    for deployment_id, symbol, view in await store.symbol_views(session, round_number, symbol_view()):
        if symbol in realized:
            views[deployment_id][symbol] = view
    scores = []
    for deployment_id, by_symbol in sorted(views.items()):
        symbols = sorted(by_symbol)
        value = correlation([by_symbol[s] for s in symbols], [realized[s] for s in symbols])
        if value is not None:
            scores.append(DeploymentScore(deployment_id=deployment_id, round_number=round_number, score=value,
                                          symbols=len(symbols), computed_at=now))  # fmt: skip
    store.add_scores(session, scores)
    await session.flush()
    await refresh_score_ranks(session, await store.owners_of(session, [score.deployment_id for score in scores]))
    return scores


def mean_of_rounds() -> ColumnElement[float]:
    """A deployment's round-based score from its round scores (an aggregate over DeploymentScore rows)."""
    return func.avg(DeploymentScore.score)


async def round_summaries(session: AsyncSession, deployment_ids: list[str]) -> dict[str, RoundSummary]:
    """Deployment → the mean of its round scores, for those with at least one scored round."""
    found = await store.round_score_summaries(session, deployment_ids, mean_of_rounds())
    return {deployment_id: RoundSummary(float(mean), rounds) for deployment_id, (mean, rounds) in found.items()}


async def rescore(session: AsyncSession, deployment_ids: Collection[str], now: datetime) -> dict[str, LiveScore]:
    """Recomputes the live scores of these deployments from their windows, stores them, and keeps their
    vendors' score ranks (the catalog's order by score) in step."""
    scores = {}
    for deployment_id in sorted(deployment_ids):
        pairs = await outcomes.window(session, deployment_id, window_order(), WINDOW)
        score = live_score([view for view, _, _ in pairs], [r for _, r, _ in pairs])
        latest = max((t for _, _, t in pairs), default=None)
        scores[deployment_id] = score
        await outcomes.save_live_score(session, deployment_id, score.rank_correlation, score.hit_rate,
                                       score.scored_signals, score.window, latest, now)  # fmt: skip
    await refresh_score_ranks(session, await store.owners_of(session, scores))
    return scores


@dataclass(frozen=True, slots=True)
class FeedReturns:
    """A round's realised returns from the feed, or why some symbols have none yet."""

    returns: dict[str, float]
    short: dict[str, str]  # symbol → why its return is not known (its bars do not reach far enough)


async def returns_from_feed(
    session: AsyncSession, symbols: Collection[str], at: datetime, horizon_seconds: float
) -> FeedReturns:
    """Each symbol's realised return as a signal made at `at` with this horizon would get it (the live score's
    definition): close(first bar >= at + horizon) / close(last bar <= at) - 1."""
    due = due_at(at, horizon_seconds)
    returns, short = {}, {}
    for symbol, closes in (await outcomes.closes_around(session, symbols, at, due)).items():
        if closes.newest is None:
            short[symbol] = "no bars"
        elif closes.entry_close is None:
            short[symbol] = f"no bar at or before {at:%Y-%m-%d %H:%M}"
        elif closes.exit_close is None:
            short[symbol] = f"newest bar {closes.newest:%Y-%m-%d %H:%M}"
        elif (value := realized_return(closes.entry_close, closes.exit_close)) is None:
            short[symbol] = "a close of 0 at the start"
        else:
            returns[symbol] = value
    return FeedReturns(returns, short)


def headline(live: LiveScore | None, rounds: RoundSummary | None) -> float | None:
    """What the catalog orders a model by: its live rank correlation, or until it has one, its round-based
    score (both correlate its views with realised returns, in [-1, 1])."""
    if live is not None and live.rank_correlation is not None:
        return live.rank_correlation
    return rounds.score if rounds is not None else None


def score_rank(best: float | None) -> float:
    """Vendor.score_rank for a vendor whose best model's headline score is `best`."""
    return 2.0 if best is None else -best


async def refresh_score_ranks(session: AsyncSession, vendor_ids: Collection[str]) -> None:
    """Recomputes the vendors' score ranks (the catalog's order by score) from their models' headline scores;
    called when scores change (live scores recomputed, a round scored) and when a model leaves (deleted)."""
    if not vendor_ids:
        return
    models = await store.models_of(session, vendor_ids)
    ids = [model for found in models.values() for model in found]
    live, rounds = await live_scores(session, ids), await round_summaries(session, ids)
    ranks = {}
    for vendor_id, found in models.items():
        best = [value for model in found if (value := headline(live.get(model), rounds.get(model))) is not None]
        ranks[vendor_id] = score_rank(max(best) if best else None)
    await store.set_score_ranks(session, ranks)


async def live_scores(session: AsyncSession, deployment_ids: Collection[str]) -> dict[str, LiveScore]:
    """Deployment → its stored live score, for those with a scored signal."""
    rows = await outcomes.live_scores_of(session, deployment_ids)
    return {
        row.deployment_id: LiveScore(row.rank_correlation, row.hit_rate, row.scored_signals, row.window,
                                     row.updated_at, row.latest_signal_time)  # fmt: skip
        for row in rows
    }
