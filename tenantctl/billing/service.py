"""Platform payments: renewals falling due, invoiced and paid, manual payments, and the billing tick.

`billing_tick` is safe to run from cron and concurrently: on PostgreSQL it takes a transaction
advisory lock first and does nothing if another tick holds it (SQLite has one writer anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.billing.lifecycle import expire_subscriptions
from tenantctl.billing.models import (
    PAYMENT_METHODS,
    PlatformPayment,
    pending_renewals,
)
from tenantctl.core.dates import add_months
from tenantctl.core.db import utcnow
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.core.money import format_money, kopeks_to_stars
from tenantctl.core.settings import Settings
from tenantctl.plans.effective import recompute_flags
from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.tenants.locks import lock_tenant
from tenantctl.tenants.models import Bot
from tenantctl.tenants.overrides import expire_overrides

BILLING_TICK_LOCK_ID = 0x74656E616E74  # "tenant": the key of pg_try_advisory_xact_lock
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
    return PlatformPayment(bot_id=bot.id, purpose="renewal", method=None, status="pending",
                           amount_minor=plan.monthly_price_kopeks, currency="RUB", due_at=subscription.end_date)




async def renewals_to_invoice(session: AsyncSession, *, limit: int = 50) -> list[tuple[PlatformPayment, Bot]]:
    """Pending renewal payments (from `billing tick`) not yet invoiced, with their tenant bots."""
    rows = await session.execute(
        select(PlatformPayment, Bot).join(Bot, Bot.id == PlatformPayment.bot_id)
        .join(TenantSubscription, TenantSubscription.bot_id == Bot.id)
        .where(pending_renewals(), PlatformPayment.invoice_sent_at.is_(None), Bot.owner_telegram_id.is_not(None),
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
            pending_renewals(bot_ids=[bot.id for bot, _, _ in rows])))).all()
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
    return kopeks_to_stars(payment.amount_minor, settings.stars_rate_kopeks)


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


@dataclass
class PaymentResult:
    payment: PlatformPayment
    subscription: TenantSubscription
    extended: bool  # False: the payment was recorded before, nothing changed
    months: int = 0  # months added


async def record_payment(
    session: AsyncSession,
    *,
    bot_id: int,
    amount_kopeks: int,
    method: str,
    reference: str,
    actor: str,
    months: int | None = None,
    reason: str | None = None,
    payment_id: int | None = None,
    now: datetime | None = None,
) -> PaymentResult:
    """Record a renewal payment, idempotent on (method, reference): N x the plan's monthly price buys N months.

    A manual deal (`months` with a `reason`, audited) buys `months` for any amount, 0 included.
    It settles the pending renewal `payment_id` (an invoice that was paid), else the oldest pending one.

    The months count from the later of the end date and now. An expired tenant becomes active
    again; a cancelled one gets the time but stays cancelled until `resume`.
    """
    now = now or utcnow()
    reference = (reference or "").strip()
    reason = (reason or "").strip() or None
    if not reference:
        raise Invalid("a payment needs a reference (the bank or receipt id)")
    if method not in PAYMENT_METHODS:
        raise Invalid(f"payment method {method!r} is not one of {', '.join(PAYMENT_METHODS)}")
    if (months is None) != (reason is None):
        raise Invalid("a manual deal needs both a number of months and a reason")
    if months is not None and months < 1:
        raise Invalid("a deal is for 1 month or more")
    if amount_kopeks < 0:
        raise Invalid("the amount cannot be negative")
    bot, subscription = await lock_tenant(session, bot_id)
    if subscription is None:
        raise NotFound(f"{bot.name!r} has no subscription")
    existing = await session.scalar(select(PlatformPayment).where(PlatformPayment.method == method, PlatformPayment.external_id == reference))
    if existing is not None:
        if existing.bot_id != bot_id:
            raise Conflict(f"payment {method}/{reference} was recorded for another bot (id {existing.bot_id})")
        return PaymentResult(existing, subscription, extended=False)
    if months is None:
        price = (await session.get(TenantSubscriptionPlan, subscription.plan_tier_id)).monthly_price_kopeks
        if price <= 0 or amount_kopeks <= 0 or amount_kopeks % price:
            raise Invalid(f"{format_money(amount_kopeks)} is not a whole number of months at {format_money(price)} a month")
        months = amount_kopeks // price

    pending = select(PlatformPayment).where(pending_renewals(bot_ids=[bot_id]))
    if payment_id is not None:
        pending = pending.where(PlatformPayment.id == payment_id)
    payment = await session.scalar(pending.order_by(PlatformPayment.due_at).limit(1).with_for_update())
    if payment is None:
        payment = PlatformPayment(bot_id=bot_id, purpose="renewal", due_at=subscription.end_date)
        session.add(payment)
    payment.method, payment.external_id, payment.status = method, reference, "succeeded"
    payment.amount_minor, payment.currency, payment.reviewed_at = amount_kopeks, "RUB", now
    payment.receipt = {"recorded_by": actor} | ({"reason": reason} if reason else {})
    before = {"status": subscription.status, "end_date": subscription.end_date.isoformat() if subscription.end_date else None, "bot_status": bot.status}
    base = max(subscription.end_date, now) if subscription.end_date else now
    subscription.end_date = add_months(base, months)
    if subscription.status == "expired":
        subscription.status = "active"
        if bot.status == "expired":
            bot.status = "active"
    await session.flush()
    await recompute_flags(session, bot_ids=[bot_id], now=now)
    await record(
        session, actor=actor, action="payment.record", entity=f"bot:{bot_id}/payment:{method}:{reference}", bot_id=bot_id,
        before=before,
        after={"status": subscription.status, "end_date": subscription.end_date.isoformat(), "bot_status": bot.status,
               "amount": amount_kopeks, "months": months, "reason": reason},
    )
    return PaymentResult(payment, subscription, extended=True, months=months)
