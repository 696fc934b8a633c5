"""Live scores: how well a deployment's signals in a round foretold the round's realised returns.

A deployment's score for a round is the Pearson correlation, across the round's symbols, between
its mean signal per symbol and the symbol's realised return; its live score is the mean over the
resolved rounds it signalled in. A round where it signalled fewer than two symbols, or the same
view of all of them, has no score: a correlation needs spread on both sides.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import DeploymentScore
from server.signals import store as signal_store


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
    for deployment_id, symbol, mean in await signal_store.mean_scores(session, round_number):
        if symbol in realized:
            views[deployment_id][symbol] = mean
    scores = []
    for deployment_id, by_symbol in sorted(views.items()):
        symbols = sorted(by_symbol)
        value = correlation([by_symbol[s] for s in symbols], [realized[s] for s in symbols])
        if value is not None:
            scores.append(DeploymentScore(deployment_id=deployment_id, round_number=round_number, score=value,
                                          symbols=len(symbols), computed_at=now))  # fmt: skip
    session.add_all(scores)
    return scores
