"""The subscription lifecycle: expiry after the grace period, due renewals, override expiry.

`billing_tick` is safe to run from cron and concurrently: on PostgreSQL it takes a transaction
advisory lock first and does nothing if another tick holds it (SQLite has one writer anyway).
Renewal payments themselves are recorded by `tenants.service.record_payment`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.billing.models import PlatformPayment
from tenantctl.flags.resolution import expire_overrides, recompute_flags
from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.tenants.models import Bot

BILLING_TICK_LOCK_ID = 0x74656E616E74  # "tenant": the key of pg_try_advisory_xact_lock
PENDING_METHOD = "manual"  # platform_payments.method is NOT NULL; a due renewal has no method until paid


@dataclass
class TickReport:
    now: datetime
    skipped: str | None = None
    expired: list[dict[str, Any]] = field(default_factory=list)
    renewals: list[dict[str, Any]] = field(default_factory=list)
    overrides_expired: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "skipped": self.skipped,
            "expired": self.expired,
            "renewals": self.renewals,
            "overrides_expired": self.overrides_expired,
        }


async def _try_lock(session: AsyncSession) -> bool:
    if session.bind.dialect.name != "postgresql":
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": BILLING_TICK_LOCK_ID}))


async def billing_tick(session: AsyncSession, *, now: datetime, grace_days: int, notice_days: int, actor: str) -> TickReport:
    """Expire lapsed subscriptions, record renewals falling due, expire overrides; report what was done."""
    report = TickReport(now=now)
    if not await _try_lock(session):
        report.skipped = "another billing tick is running: nothing done"
        return report
    report.expired = await expire_subscriptions(session, now=now, grace_days=grace_days, actor=actor)
    report.renewals = await record_due_renewals(session, now=now, notice_days=notice_days, actor=actor)
    report.overrides_expired = [
        {"bot_id": o.bot_id, "feature": o.feature_key, "expires_at": o.expires_at.isoformat()}
        for o in await expire_overrides(session, now=now)
    ]
    return report


async def expire_subscriptions(session: AsyncSession, *, now: datetime, grace_days: int, actor: str) -> list[dict[str, Any]]:
    """Active subscriptions past end_date + grace become expired, their bots stopped (status expired), flags off."""
    cutoff = now - timedelta(days=grace_days)
    rows = (
        await session.execute(
            select(TenantSubscription, Bot)
            .join(Bot, Bot.id == TenantSubscription.bot_id)
            .where(TenantSubscription.status == "active", TenantSubscription.end_date < cutoff)
            .order_by(Bot.id)
            .with_for_update()
        )
    ).all()
    expired = []
    for subscription, bot in rows:
        subscription.status = "expired"
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


async def record_due_renewals(session: AsyncSession, *, now: datetime, notice_days: int, actor: str) -> list[dict[str, Any]]:
    """A pending renewal payment per auto-renewing subscription ending within `notice_days`, once per period."""
    already = exists().where(
        and_(
            PlatformPayment.bot_id == TenantSubscription.bot_id,
            PlatformPayment.purpose == "renewal",
            PlatformPayment.due_at == TenantSubscription.end_date,
        )
    )
    rows = (
        await session.execute(
            select(TenantSubscription, Bot, TenantSubscriptionPlan)
            .join(Bot, Bot.id == TenantSubscription.bot_id)
            .join(TenantSubscriptionPlan, TenantSubscriptionPlan.id == TenantSubscription.plan_tier_id)
            .where(
                TenantSubscription.status == "active",
                TenantSubscription.auto_renewal.is_(True),
                TenantSubscription.end_date <= now + timedelta(days=notice_days),
                ~already,
            )
            .order_by(Bot.id)
        )
    ).all()
    renewals = []
    for subscription, bot, plan in rows:
        payment = PlatformPayment(
            bot_id=bot.id, purpose="renewal", method=PENDING_METHOD, status="pending",
            amount=plan.monthly_price_kopeks, currency="RUB", due_at=subscription.end_date,
        )
        session.add(payment)
        await session.flush()
        renewal = {"bot_id": bot.id, "name": bot.name, "plan": plan.name, "amount": plan.monthly_price_kopeks,
                   "due_at": subscription.end_date.isoformat(), "payment_id": payment.id}
        renewals.append(renewal)
        await record(session, actor=actor, action="renewal.due", entity=f"bot:{bot.id}/payment:{payment.id}", bot_id=bot.id, after=renewal)
    return renewals
