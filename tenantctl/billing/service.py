"""The subscription lifecycle: expiry after the grace period, due renewals, override expiry.

`billing_tick` is safe to run from cron and concurrently: on PostgreSQL it takes a transaction
advisory lock first and does nothing if another tick holds it (SQLite has one writer anyway).
Renewal payments themselves are recorded by `tenants.service.record_payment`; the functions at the
end are what the bot uses to invoice renewals and tell owners about expiry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from tenantctl.audit.models import AuditEntry
from tenantctl.audit.service import record
from tenantctl.billing.models import PlatformPayment
from tenantctl.core.errors import Conflict, NotFound
from tenantctl.core.money import kopeks_to_stars
from tenantctl.core.settings import Settings
from tenantctl.flags.resolution import expire_overrides, recompute_flags
from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.tenants.models import Bot
from tenantctl.tenants.service import PaymentResult, record_payment

BILLING_TICK_LOCK_ID = 0x74656E616E74  # "tenant": the key of pg_try_advisory_xact_lock
PENDING_METHOD = "manual"  # platform_payments.method is NOT NULL; a due renewal has no method until paid
STARS = "telegram_stars"
RENEWABLE_STATUSES = ("active", "expired")  # a cancelled tenant is not invoiced


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
        payment = pending_renewal(bot, subscription, plan)
        session.add(payment)
        await session.flush()
        renewal = {"bot_id": bot.id, "name": bot.name, "plan": plan.name, "amount": plan.monthly_price_kopeks,
                   "due_at": subscription.end_date.isoformat(), "payment_id": payment.id}
        renewals.append(renewal)
        await record(session, actor=actor, action="renewal.due", entity=f"bot:{bot.id}/payment:{payment.id}", bot_id=bot.id, after=renewal)
    return renewals


def pending_renewal(bot: Bot, subscription: TenantSubscription, plan: TenantSubscriptionPlan) -> PlatformPayment:
    """A new pending renewal payment for one month of the tenant's plan, due at its end date."""
    return PlatformPayment(bot_id=bot.id, purpose="renewal", method=PENDING_METHOD, status="pending",
                           amount=plan.monthly_price_kopeks, currency="RUB", due_at=subscription.end_date)


# ----- renewals, as the bot sends and takes them -----------------------------------------


async def renewals_to_invoice(session: AsyncSession, *, limit: int = 50) -> list[tuple[PlatformPayment, Bot]]:
    """Pending renewal payments (from `billing tick`) not yet invoiced, with their tenant bots."""
    rows = await session.execute(
        select(PlatformPayment, Bot).join(Bot, Bot.id == PlatformPayment.bot_id)
        .join(TenantSubscription, TenantSubscription.bot_id == Bot.id)
        .where(PlatformPayment.purpose == "renewal", PlatformPayment.status == "pending",
               PlatformPayment.invoice_sent_at.is_(None), Bot.owner_telegram_id.is_not(None),
               TenantSubscription.status.in_(RENEWABLE_STATUSES))
        .order_by(PlatformPayment.id).limit(limit)
    )
    return [tuple(row) for row in rows.all()]


async def request_renewals(session: AsyncSession, *, owner_telegram_id: int) -> int:
    """A renewal payment to invoice (again) for each of the owner's tenant bots; how many."""
    rows = (await session.execute(
        select(Bot, TenantSubscription, TenantSubscriptionPlan)
        .join(TenantSubscription, TenantSubscription.bot_id == Bot.id)
        .join(TenantSubscriptionPlan, TenantSubscriptionPlan.id == TenantSubscription.plan_tier_id)
        .where(Bot.owner_telegram_id == owner_telegram_id, Bot.is_master.is_(False),
               TenantSubscription.status.in_(RENEWABLE_STATUSES))
    )).all()
    pending = {
        p.bot_id: p
        for p in (await session.scalars(select(PlatformPayment).where(
            PlatformPayment.bot_id.in_([bot.id for bot, _, _ in rows]),
            PlatformPayment.purpose == "renewal", PlatformPayment.status == "pending"))).all()
    }
    for bot, subscription, plan in rows:
        payment = pending.get(bot.id)
        if payment is None:
            payment = pending_renewal(bot, subscription, plan)
            session.add(payment)
        payment.invoice_sent_at = None
    await session.flush()
    return len(rows)


async def mark_invoice_sent(session: AsyncSession, *, payment_id: int, now: datetime) -> None:
    """Remember that a renewal's invoice went out."""
    await session.execute(update(PlatformPayment).where(PlatformPayment.id == payment_id).values(invoice_sent_at=now))


def renewal_stars(payment: PlatformPayment, settings: Settings) -> int:
    """The renewal's price in whole Stars, at STARS_RATE_KOPEKS."""
    return kopeks_to_stars(payment.amount, settings.stars_rate_kopeks)


async def check_renewal_payable(session: AsyncSession, *, payment_id: int, telegram_user_id: int, stars: int,
                                settings: Settings) -> PlatformPayment:
    """For pre-checkout: the renewal is still pending, the payer owns the bot, the amount matches."""
    row = (await session.execute(select(PlatformPayment, Bot).join(Bot, Bot.id == PlatformPayment.bot_id)
                                 .where(PlatformPayment.id == payment_id))).first()
    if row is None or row[0].purpose != "renewal" or row[0].status != "pending" or row[1].owner_telegram_id != telegram_user_id:
        raise Conflict("not_payable")
    if renewal_stars(row[0], settings) != stars:
        raise Conflict("not_payable")
    return row[0]


async def pay_renewal(session: AsyncSession, *, payment_id: int, charge_id: str, actor: str) -> PaymentResult:
    """A paid renewal invoice: `record_payment` extends the subscription (idempotent on the charge id)."""
    payment = await session.get(PlatformPayment, payment_id)
    if payment is None or payment.bot_id is None:
        raise NotFound("payment_unknown")
    return await record_payment(session, bot_id=payment.bot_id, amount_kopeks=payment.amount, method=STARS,
                                reference=charge_id, actor=actor, payment_id=payment.id)


async def expired_to_notify(session: AsyncSession) -> list[tuple[Bot, TenantSubscription]]:
    """Expired tenants whose owner has not yet been told about this expiry (told after its last `tenant.expired`)."""
    notice, expiry = aliased(AuditEntry), aliased(AuditEntry)
    last_expiry = select(func.max(expiry.id)).where(expiry.bot_id == Bot.id, expiry.action == "tenant.expired").scalar_subquery()
    told = select(notice.id).where(
        notice.bot_id == Bot.id, notice.action == "tenant.expiry_notified", notice.id > func.coalesce(last_expiry, 0)
    ).exists()
    rows = await session.execute(
        select(Bot, TenantSubscription).join(TenantSubscription, TenantSubscription.bot_id == Bot.id)
        .where(TenantSubscription.status == "expired", Bot.owner_telegram_id.is_not(None), ~told)
        .order_by(Bot.id)
    )
    return [tuple(row) for row in rows.all()]


async def mark_expiry_notified(session: AsyncSession, *, bot_id: int, actor: str) -> None:
    """Remember that the owner was told their tenant expired."""
    await record(session, actor=actor, action="tenant.expiry_notified", entity=f"bot:{bot_id}", bot_id=bot_id)
