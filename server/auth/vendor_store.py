"""Vendor rows."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Vendor


async def find_vendor(session: AsyncSession, ref: str) -> Vendor | None:
    """By id (`vnd_…`) or slug."""
    return await session.scalar(select(Vendor).where(or_(Vendor.id == ref, Vendor.slug == ref)))


async def list_vendors(session: AsyncSession, offset: int, limit: int) -> list[Vendor]:
    rows = await session.scalars(select(Vendor).order_by(Vendor.created_at, Vendor.id).offset(offset).limit(limit))
    return list(rows)


def add_vendor(session: AsyncSession, vendor: Vendor) -> None:
    session.add(vendor)
