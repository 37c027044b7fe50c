"""The one lock order for a tenant's state: its bot (by id), then its subscription, read fresh after locking.

The bots are locked FOR NO KEY UPDATE, so rows that only refer to a bot (flags, payments) can still
be written beside the lock, and `recompute_flags`, which locks subscriptions and then plans (or a
plan alone, for a grant change), never a bot, cannot close a cycle with it. Every lifecycle change, payment and override takes its locks through here.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.errors import NotFound
from tenantctl.plans.models import TenantSubscription
from tenantctl.tenants.models import Bot


async def lock_tenants(session: AsyncSession, bot_ids: Iterable[int]) -> list[tuple[Bot, TenantSubscription | None]]:
    """Lock tenant bots (by id), then their subscriptions, and read both fresh."""
    ids = sorted(set(bot_ids))
    if not ids:
        return []
    if session.bind.dialect.name == "sqlite":  # no row locks: a write that changes nothing takes the database's
        await session.execute(update(Bot).where(Bot.id.in_(ids))  # write lock first
                              .values(status=Bot.status, updated_at=Bot.updated_at)
                              .execution_options(synchronize_session=False))
    bots = (await session.scalars(
        select(Bot).where(Bot.id.in_(ids), Bot.is_master.is_(False)).order_by(Bot.id)
        .with_for_update(key_share=True).execution_options(populate_existing=True))).all()
    subscriptions = {s.bot_id: s for s in (await session.scalars(
        select(TenantSubscription).where(TenantSubscription.bot_id.in_(ids)).order_by(TenantSubscription.bot_id)
        .with_for_update().execution_options(populate_existing=True))).all()}
    return [(bot, subscriptions.get(bot.id)) for bot in bots]


async def lock_tenant(session: AsyncSession, bot_id: int) -> tuple[Bot, TenantSubscription | None]:
    """One tenant bot and its subscription, locked and read fresh (`lock_tenants`), or NotFound."""
    rows = await lock_tenants(session, [bot_id])
    if not rows:
        raise NotFound(f"no tenant bot with id {bot_id}")
    return rows[0]
