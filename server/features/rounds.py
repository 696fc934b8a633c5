"""The open round as the feature stream needs it: its number, symbols, feature columns, horizon and live file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.datasets import store

LIVE_FILE = "live"  # the split whose newest rows a stream starts with before any bar has arrived


@dataclass(frozen=True)
class OpenRound:
    number: int
    symbols: frozenset[str]
    columns: tuple[str, ...]  # every column of its live file, in the file's order (features among them)
    horizon: timedelta  # horizon_bars bars of bar_seconds: how far ahead its target looks
    live_key: str | None  # the live file's blob
    live_format: str

    def feature_names(self, known: list[str]) -> list[str]:
        """The features a row of this round carries, in the round's column order (all known ones when the
        round lists no columns)."""
        named = [column for column in self.columns if column in known]
        return named or list(known)


async def open_round(session: AsyncSession, now: datetime) -> OpenRound | None:
    """The open round with the highest number, or None when no round is open."""
    rows = await store.list_rounds(session, 1, state="open", now=now)
    if not rows:
        return None
    row = rows[0]
    files = (await store.files_of(session, [row.number]))[row.number]
    live = next((file for file in files if file.name == LIVE_FILE), None)
    return OpenRound(
        number=row.number,
        symbols=frozenset(row.symbols or ()),
        columns=tuple(live.columns) if live is not None else (),
        horizon=timedelta(seconds=row.bar_seconds * row.horizon_bars),
        live_key=live.blob_key if live is not None else None,
        live_format=live.format if live is not None else "",
    )
