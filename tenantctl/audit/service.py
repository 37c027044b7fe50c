"""Writing and reading the audit log. Entries are written in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.models import AuditEntry


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    entity: str,
    bot_id: int | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Append one audit entry (who, what, before/after) to the current transaction."""
    entry = AuditEntry(actor=actor, action=action, entity=entity, bot_id=bot_id, before=before, after=after)
    session.add(entry)
    await session.flush()
    return entry


async def list_entries(
    session: AsyncSession, *, bot_id: int | None = None, since: datetime | None = None, limit: int = 200
) -> list[AuditEntry]:
    """Newest first, optionally for one bot and after a time."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if bot_id is not None:
        query = query.where(AuditEntry.bot_id == bot_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list((await session.scalars(query)).all())


