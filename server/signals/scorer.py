"""The live scorer: as bars arrive, signals whose horizon has passed get their realised return stored and their
deployments' live scores are recomputed (server/signals/scoring.py defines both; this module decides when).

A turn starts as soon as bars are stored (the in-process bar feed wakes the scorer; bars stored by other
replicas reach it through the market relay), and at least every `poll` seconds. Each turn, in one
transaction: new signals are enrolled as pending outcomes; the symbols whose bars changed since the last
turn (and those of the signals just enrolled) are looked at; their pending outcomes due by their newest bar
are scored; the deployments those belong to get their live score recomputed from their window. Across
replicas one scorer works at a time (a PostgreSQL advisory lock held for the turn; the others skip theirs),
and a turn is idempotent besides: bars are immutable, so an outcome scored twice is scored alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.signals import outcomes, scoring

log = logging.getLogger("mp.scorer")


@dataclass(frozen=True, slots=True)
class ScorerPolicy:
    poll: float = 1.0  # seconds between turns
    # A signal or bar row committed this long after it was stamped is still seen: its turn looks back so far.
    settle: timedelta = timedelta(seconds=10)
    # Every symbol is looked at this often, changed or not: a bar stamped by a replica whose clock runs more
    # than `settle` behind would otherwise wait for its symbol's next bar.
    sweep: timedelta = timedelta(seconds=60)
    enroll_batch: int = 20_000  # new signals enrolled per turn, at most
    score_batch: int = 50_000  # outcomes scored per turn, at most


@dataclass(slots=True)
class Turn:
    """What one turn did."""

    enrolled: int = 0
    scored: int = 0
    void: int = 0  # due, but with no bar at or before the signal's time
    deployments: set[str] = field(default_factory=set)
    skipped: bool = False  # another replica's scorer held the lock
    more: bool = False  # a batch limit was reached: the next turn should not wait


class Scorer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        policy: ScorerPolicy | None = None,
        *,
        new_bars: Callable[[], AsyncIterable[object]] | None = None,
    ) -> None:
        """`new_bars` subscribes to the bar feed: each batch it yields starts a turn."""
        self._sessions = sessions
        self._new_bars = new_bars
        self._wake = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._clock = clock
        self.policy = policy or ScorerPolicy()
        self._cursor: int | None = None  # signals up to this id are enrolled, and were committed long enough ago
        self._recent: dict[int, datetime] = {}  # id → stored_at of the signals read past the cursor
        self._since: datetime | None = None  # bars changed before this were looked at
        self._swept: datetime | None = None  # when every symbol was last looked at
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mp-scorer")
        if self._new_bars is not None:
            self._listener = asyncio.create_task(self._listen(self._new_bars), name="mp-scorer-bars")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self._task is not None:
            await self._task

    async def _listen(self, new_bars: Callable[[], AsyncIterable[object]]) -> None:
        while not self._stop.is_set():
            try:
                async for _ in new_bars():
                    self._wake.set()
            except Exception:  # fell behind the feed (or it failed): the polls carry on; subscribe again
                log.warning("the scorer's bar subscription ended; subscribing again", exc_info=True)
                await asyncio.sleep(self.policy.poll)

    async def _run(self) -> None:
        while not self._stop.is_set():
            more = False
            try:
                more = (await self.turn()).more
            except Exception:  # a database hiccup must not end scoring for good
                log.exception("a scoring turn failed; trying again")
            if more:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.policy.poll)
            except TimeoutError:
                pass
            self._wake.clear()

    async def turn(self) -> Turn:
        """Enrolls, scores what is due and rescores the deployments concerned, in one transaction."""
        done = Turn()
        async with self._sessions.begin() as session:
            if not await outcomes.take_scorer_lock(session):
                done.skipped = True
                return done
            now = to_datetime(self._clock())
            enrolled_symbols = await self._enroll(session, now, done)
            since, self._since = self._since, now - self.policy.settle
            if self._swept is None or now - self._swept >= self.policy.sweep:
                since, self._swept = None, now
            symbols = await outcomes.symbols_updated_since(session, since) | enrolled_symbols
            limit = self.policy.score_batch
            scored = await outcomes.score_due(session, symbols, scoring.realized_return_of, now, limit)
            if len(scored) >= limit:
                done.more = True
                self._since = since  # the rest of these symbols' due outcomes next turn
            done.deployments = {deployment_id for deployment_id, r in scored if r is not None}
            done.void = sum(1 for _, r in scored if r is None)
            done.scored = len(scored) - done.void
            if done.deployments:
                await scoring.rescore(session, done.deployments, now)
        return done

    async def _enroll(self, session: AsyncSession, now: datetime, done: Turn) -> set[str]:
        if self._cursor is None:
            self._cursor = await outcomes.enrolled_through(session)
        found = await outcomes.unenrolled_signals(session, self._cursor, self.policy.enroll_batch)
        # A signal stored before any bar of its symbol has no bar to start from: never scored, never enrolled.
        scorable = [s for s in found if s.seen_bar is not None]
        await outcomes.enroll(
            session,
            [
                {
                    "signal_id": s.id, "deployment_id": s.deployment_id, "symbol": s.symbol,
                    "view": scoring.view_of(s.action, s.score), "signal_time": s.seen_bar,
                    "due_at": scoring.due_at(s.seen_bar, s.horizon_seconds),
                }  # fmt: skip
                for s in scorable
                if s.seen_bar is not None
            ],
        )
        done.enrolled = len(scorable)
        done.more = done.more or len(found) >= self.policy.enroll_batch
        self._recent.update((s.id, s.stored_at) for s in found)
        # The cursor passes a signal once it was stored `settle` ago: a transaction still open then (and so a
        # signal of a lower id, not yet visible) is not expected; until then the signals past it are read
        # again each turn, and skipped as enrolled.
        settled = now - self.policy.settle
        for signal_id in sorted(self._recent):
            if self._recent[signal_id] > settled:
                break
            self._cursor = max(self._cursor, signal_id)
            del self._recent[signal_id]
        return {s.symbol for s in scorable}
