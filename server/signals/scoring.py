"""Live scores: how well a deployment's signals in a round foretold the round's realised returns.

A deployment's score for a round is the Pearson correlation, across the round's symbols, between
its mean signal per symbol and the symbol's realised return; its live score is the mean over the
resolved rounds it signalled in. A round where it signalled fewer than two symbols, or the same
view of all of them, has no score: a correlation needs spread on both sides.

The whole formula is here, its SQL parts too: this module builds the expressions the signal store
aggregates with (it runs no query itself), so computing live scores differently changes this module only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func
from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_marketplace.v1.signals_pb2 import ACTION_BUY, ACTION_SELL
from mlmp_server.db.models import DeploymentScore, Signal
from mlmp_server.signals import store


@dataclass(frozen=True, slots=True)
class LiveScore:
    score: float  # the mean of its round scores
    rounds: int  # how many rounds have a score


def signal_value() -> ColumnElement[float]:
    """What one signal says of its symbol: its score, or without one its action (buy +1, sell -1, hold 0)."""
    return func.coalesce(
        Signal.score, case((Signal.action == ACTION_BUY, 1.0), (Signal.action == ACTION_SELL, -1.0), else_=0.0)
    )


def symbol_view() -> ColumnElement[float]:
    """A deployment's view of a symbol in a round: the mean of its signals' values."""
    return func.avg(signal_value())


def correlation(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 2:
        return None
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    var_x = sum((x - mean_x) ** 2 for x in xs)
    var_y = sum((y - mean_y) ** 2 for y in ys)
    if var_x <= 0 or var_y <= 0:
        return None
    return max(-1.0, min(1.0, cov / math.sqrt(var_x * var_y)))


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


def live_score_of_rounds() -> ColumnElement[float]:
    """A deployment's live score from its round scores (an aggregate over DeploymentScore rows)."""
    return func.avg(DeploymentScore.score)


def score_rank(best: float | None) -> float:
    """Vendor.score_rank for a vendor whose best model's live score is `best`."""
    return 2.0 if best is None else -best


async def refresh_score_ranks(session: AsyncSession, vendor_ids: Collection[str]) -> None:
    """Recomputes the vendors' score ranks (the catalog's order by score) from their models' live scores;
    called when scores change (a round scored) and when a model leaves (deleted)."""
    if not vendor_ids:
        return
    models = await store.models_of(session, vendor_ids)
    scores = await live_scores(session, [model for found in models.values() for model in found])
    ranks = {}
    for vendor_id, found in models.items():
        best = [scores[model].score for model in found if model in scores]
        ranks[vendor_id] = score_rank(max(best) if best else None)
    await store.set_score_ranks(session, ranks)


async def live_scores(session: AsyncSession, deployment_ids: list[str]) -> dict[str, LiveScore]:
    """Deployment → its live score, for those with at least one scored round."""
    found = await store.round_score_summaries(session, deployment_ids, live_score_of_rounds())
    return {deployment_id: LiveScore(float(mean), rounds) for deployment_id, (mean, rounds) in found.items()}
