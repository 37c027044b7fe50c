"""A tenant's status over time: suspend, resume, cancel, expire.

Every change here, and `record_payment`, takes its locks in the one order of `tenants.locks`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.billing.models import PlatformPayment, pending_renewals
from tenantctl.core.db import utcnow
from tenantctl.core.errors import Conflict
from tenantctl.flags.live import notify_flags_changed
from tenantctl.plans.effective import recompute_flags
from tenantctl.plans.models import TenantSubscription
from tenantctl.tenants.locks import lock_tenant, lock_tenants
from tenantctl.tenants.models import Bot


async def suspend_tenant(session: AsyncSession, *, bot_id: int, actor: str) -> Bot:
    """Stop an active tenant bot (its subscription and flags stay as they are)."""
    bot, subscription = await lock_tenant(session, bot_id)
    if bot.status != "active":
        raise Conflict(f"{bot.name!r} is {bot.status}: only an active tenant can be suspended")
    await _set_status(session, bot, subscription, "suspended", actor)
    return bot


async def resume_tenant(session: AsyncSession, *, bot_id: int, actor: str, now: datetime | None = None) -> Bot:
    """Bring a suspended or cancelled tenant back, if its paid period has not run out."""
    now = now or utcnow()
    bot, subscription = await lock_tenant(session, bot_id)
    if bot.status not in ("suspended", "cancelled"):
        raise Conflict(f"{bot.name!r} is {bot.status}: only a suspended or cancelled tenant can be resumed")
    if subscription is None or subscription.status == "expired" or (subscription.end_date and subscription.end_date <= now):
        ended = subscription.end_date.date().isoformat() if subscription and subscription.end_date else "?"
        raise Conflict(f"{bot.name!r}'s subscription ended on {ended}: record a payment first (tenantctl billing record-payment)")
    if bot.status == "cancelled" and bot.telegram_id is not None:
        other = await session.scalar(select(Bot).where(Bot.telegram_id == bot.telegram_id, Bot.id != bot.id,
                                                       Bot.status != "cancelled"))
        if other is not None:
            raise Conflict(f"{bot.name!r}'s Telegram bot runs as tenant {other.name!r} (id {other.id}) now: "
                           "cancel that one first", code="token_taken")
    if subscription.status != "active":
        subscription.status, subscription.auto_renewal = "active", True
        await session.flush()
        await recompute_flags(session, bot_ids=[bot_id], now=now)
    await _set_status(session, bot, subscription, "active", actor)
    return bot


async def cancel_tenant(session: AsyncSession, *, bot_id: int, actor: str) -> Bot:
    """Cancel a tenant: the bot stops, its subscription is cancelled and every feature turns off."""
    bot, subscription = await lock_tenant(session, bot_id)
    if bot.status == "cancelled":
        raise Conflict(f"{bot.name!r} is cancelled already")
    if subscription is not None:
        subscription.status, subscription.auto_renewal = "cancelled", False
    await session.execute(update(PlatformPayment).where(pending_renewals(bot_ids=[bot_id])).values(status="cancelled"))
    await _set_status(session, bot, subscription, "cancelled", actor)
    await recompute_flags(session, bot_ids=[bot_id])
    return bot


async def _set_status(session: AsyncSession, bot: Bot, subscription: TenantSubscription | None, status: str,
                      actor: str) -> None:
    before = bot.status
    bot.status = status
    await session.flush()
    after = {"status": status}
    if subscription is not None:
        after |= {"subscription": subscription.status, "auto_renewal": subscription.auto_renewal}
    await record(session, actor=actor, action=f"tenant.{status}", entity=f"bot:{bot.id}", bot_id=bot.id,
                 before={"status": before}, after=after)
    await notify_flags_changed(session, bot_ids=[bot.id])  # what listens (the API's token cache) sees the status at commit


async def expire_subscriptions(session: AsyncSession, *, now: datetime, grace_days: int, actor: str) -> list[dict[str, Any]]:
    """Active subscriptions past end_date + grace become expired, their bots stopped (status expired), flags off."""
    lapsed = (TenantSubscription.status == "active", TenantSubscription.end_date < now - timedelta(days=grace_days))
    ids = (await session.scalars(select(TenantSubscription.bot_id).where(*lapsed))).all()
    await lock_tenants(session, ids)
    rows = (await session.execute(  # again, locked: a payment that got in first has moved the end date
        select(TenantSubscription, Bot).join(Bot, Bot.id == TenantSubscription.bot_id)
        .where(*lapsed, Bot.id.in_(ids)).order_by(Bot.id))).all()
    expired = []
    for subscription, bot in rows:
        subscription.status, subscription.expiry_notified_at = "expired", None
        before_status = bot.status
        if bot.status == "active":
            bot.status = "expired"  # not "suspended": a payment must not lift a manual suspension
        expired.append({"bot_id": bot.id, "name": bot.name, "end_date": subscription.end_date.isoformat()})
        await record(
            session, actor=actor, action="tenant.expired", entity=f"bot:{bot.id}", bot_id=bot.id,
            before={"subscription": "active", "status": before_status},
            after={"subscription": "expired", "status": bot.status, "end_date": subscription.end_date.isoformat()},
        )
    if expired:
        await session.flush()
        await recompute_flags(session, bot_ids=[e["bot_id"] for e in expired], now=now)
    return expired


async def expired_to_notify(session: AsyncSession) -> list[tuple[Bot, TenantSubscription]]:
    """Expired tenants whose owner has not yet been told about this expiry."""
    rows = await session.execute(
        select(Bot, TenantSubscription).join(TenantSubscription, TenantSubscription.bot_id == Bot.id)
        .where(TenantSubscription.status == "expired", TenantSubscription.expiry_notified_at.is_(None),
               Bot.owner_telegram_id.is_not(None))
        .order_by(Bot.id)
    )
    return [tuple(row) for row in rows.all()]


async def mark_expiry_notified(session: AsyncSession, *, bot_id: int, now: datetime | None = None) -> None:
    """Remember that the owner was told their tenant expired."""
    await session.execute(update(TenantSubscription).where(TenantSubscription.bot_id == bot_id)
                          .values(expiry_notified_at=now or utcnow()))
