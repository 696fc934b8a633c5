"""Live scoring benchmark; prints figures, asserts nothing.

How the scorer keeps up with a feed of 500 symbols on PostgreSQL: each step, one bar arrives for every
symbol and every deployment signals every symbol (horizon: 5 bars), then the scorer takes one turn
(server/signals/scorer.py: enrol the new signals, score those whose horizon the new bars passed, recompute
the live scores of the deployments concerned). Figures: the turn's time per step (p50/p99), symbol-bars
scored per second, signals scored per second. Baseline, from the same run and the same rows: a plain pandas
recomputation per step (read every signal and bar, merge_asof the two closes, each deployment's window),
what a scorer without stored outcomes would do; its time grows with the history, the scorer's does not.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.quick import sized

SYMBOLS = [f"S{n:03d}" for n in range(500)]
DEPLOYMENTS = sized(4, 2)
STEPS = sized(60, 12)
HORIZON_BARS = 5
BAR = timedelta(minutes=1)
T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
WINDOW = 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(url: str) -> None:
    import pandas as pd
    from sqlalchemy import insert, select

    from mlmp_server.db.engine import create_engine, migrate, session_factory
    from mlmp_server.db.models import Deployment, MarketBar, MarketSymbol, Signal, Vendor
    from mlmp_server.signals.scorer import Scorer

    engine = create_engine(url)
    await migrate(engine)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    deployment_ids = [f"dep_bench_{n}" for n in range(DEPLOYMENTS)]
    async with sessions.begin() as session:
        session.add(Vendor(id="vnd_bench", slug="bench", display_name="Bench", created_at=now))
        await session.flush()
        session.add_all(
            Deployment(id=d, vendor_id="vnd_bench", name=d, provider="local", state="live", links={},
                       created_at=now, updated_at=now)  # fmt: skip
            for d in deployment_ids
        )
    scorer = Scorer(sessions, time.time)
    price = dict.fromkeys(SYMBOLS, 100.0)
    turns: list[float] = []
    baselines: list[float] = []
    scored = 0
    for step in range(STEPS):
        bar_time = T0 + step * BAR
        async with sessions.begin() as session:  # the bars, as PublishBars stores them
            for n, symbol in enumerate(SYMBOLS):
                price[symbol] *= 1 + ((step * 7 + n * 13) % 11 - 5) / 1000
            await session.execute(insert(MarketBar), [
                {"symbol": s, "time": bar_time, "open": p, "high": p, "low": p, "close": p, "volume": 1.0,
                 "received_at": datetime.now(UTC)} for s, p in price.items()
            ])  # fmt: skip
            if step == 0:
                await session.execute(insert(MarketSymbol), [
                    {"symbol": s, "first_time": bar_time, "last_time": bar_time, "bar_count": 1, "updated_at": now}
                    for s in SYMBOLS
                ])  # fmt: skip
            else:
                from sqlalchemy import update

                await session.execute(
                    update(MarketSymbol).values(last_time=bar_time, bar_count=MarketSymbol.bar_count + 1,
                                                updated_at=datetime.now(UTC))  # fmt: skip
                )
            # every deployment signals every symbol at this bar, as the template does
            await session.execute(insert(Signal), [
                {"deployment_id": d, "vendor_id": "vnd_bench", "run_id": None, "symbol": s, "action": 1,
                 "score": ((n * 31 + k * 17 + step) % 21 - 10) / 10, "confidence": 0.5,
                 "horizon_seconds": HORIZON_BARS * BAR.total_seconds(), "generated_at": bar_time, "round_number": 1,
                 "model_version": "", "batch_sequence": step, "stored_at": datetime.now(UTC)}
                for k, d in enumerate(deployment_ids) for n, s in enumerate(SYMBOLS)
            ])  # fmt: skip
        started = time.perf_counter()
        turn = await scorer.turn()
        turns.append(time.perf_counter() - started)
        scored += turn.scored

        started = time.perf_counter()
        async with sessions() as session:
            signals = pd.DataFrame(
                (await session.execute(select(Signal.id, Signal.deployment_id, Signal.symbol, Signal.score,
                                              Signal.stored_at, Signal.horizon_seconds))).all(),  # fmt: skip
                columns=["id", "deployment_id", "symbol", "view", "store_time", "h"],
            )
            bars = pd.DataFrame(
                (await session.execute(select(MarketBar.symbol, MarketBar.time, MarketBar.received_at,
                                              MarketBar.close))).all(),  # fmt: skip
                columns=["symbol", "time", "receive_time", "close"],
            )
        signals["h"] = pd.to_timedelta(signals.h, unit="s")
        # catalog.proto's LiveScore lines, for every deployment at once
        b = pd.merge_asof(signals.sort_values("store_time"), bars.sort_values("receive_time"), left_on="store_time",
                          right_on="receive_time", by="symbol").dropna(subset=["time"])  # fmt: skip
        x = pd.merge_asof(b.assign(due=b.time + b.h).sort_values("due"), bars.sort_values("time"), left_on="due",
                          right_on="time", by="symbol", direction="forward", suffixes=("", "_x"))  # fmt: skip
        done = x.assign(r=x.close_x / x.close - 1).dropna(subset=["r"])
        for _, rows in done.groupby("deployment_id"):
            w = rows.sort_values(["time", "id"]).tail(WINDOW)
            w.view.rank().corr(w.r.rank()), (w.view * w.r > 0).mean()
        baselines.append(time.perf_counter() - started)
    await engine.dispose()

    steady = turns[HORIZON_BARS + 1 :] or turns  # once signals fall due every step
    base = baselines[HORIZON_BARS + 1 :] or baselines
    p50, p99 = statistics.median(steady), percentile(steady, 0.99)
    b50, b99 = statistics.median(base), percentile(base, 0.99)
    print(f"live scorer, {len(SYMBOLS)} symbols x {DEPLOYMENTS} deployments, one bar per symbol per step, "
          f"{STEPS} steps ({len(SYMBOLS) * DEPLOYMENTS} signals scored per step once due):")  # fmt: skip
    print(f"  scorer turn per step:   p50 {p50 * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms  "
          f"(last step {steady[-1] * 1000:.1f} ms) → {len(SYMBOLS) / p50:,.0f} symbol-bars/s, "
          f"{len(SYMBOLS) * DEPLOYMENTS / p50:,.0f} signals/s scored")
    print(f"  pandas recomputation:   p50 {b50 * 1000:8.1f} ms  p99 {b99 * 1000:8.1f} ms  "
          f"(last step {base[-1] * 1000:.1f} ms, growing with the history)")
    print(f"  ratio (pandas p50 / scorer p50): {b50 / p50:.1f}x; last step {base[-1] / steady[-1]:.1f}x; "
          f"outcomes scored {scored:,}")  # fmt: skip


def main() -> None:
    from tests.helpers.postgres import PostgresUnavailable, fresh_database, postgres_server

    try:
        with postgres_server() as admin_url, fresh_database(admin_url) as url:
            asyncio.run(run(url))
    except PostgresUnavailable as error:
        print(f"live scoring benchmark skipped: {error}")


if __name__ == "__main__":
    main()
