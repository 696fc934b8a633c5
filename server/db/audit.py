"""Audit events: who (a token id, never a token) did what to which resource."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.db.models import AuditEvent


def record(session: AsyncSession, *, actor: str, action: str, target: str, at: datetime, **details: Any) -> None:
    session.add(AuditEvent(occurred_at=at, actor=actor, action=action, target=target, details=details))
