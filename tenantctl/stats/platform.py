"""Platform figures for the master admins: a tenant at a glance, who has which feature, the receipts to review."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.models import AuditEntry
from tenantctl.billing.models import CARD, PlatformPayment
from tenantctl.core.db import utcnow
from tenantctl.customers.models import TrafficDaily, Transaction, User
from tenantctl.flags.models import BotFeatureFlag
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.tenants.models import Bot
from tenantctl.tenants.service import get_tenant

INCOME_KINDS = ("deposit", "subscription_payment")  # money end users paid in; refunds are taken off


@dataclass(frozen=True)
class TenantSummary:
    """One tenant's page: the bot, its plan and subscription, users, and the last 30 days' income and traffic."""

    bot: Bot
    plan: TenantSubscriptionPlan | None
    subscription: TenantSubscription | None
    users: int
    income_30d_kopeks: int
    traffic_30d_bytes: int


async def tenant_summary(session: AsyncSession, *, bot_id: int, now: datetime | None = None) -> TenantSummary:
    """A tenant's status, plan, end date, user count, and its income and traffic over the last 30 days."""
    now = now or utcnow()
    since = now - timedelta(days=30)
    bot = await get_tenant(session, bot_id)
    subscription = await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == bot_id))
    plan = await session.get(TenantSubscriptionPlan, subscription.plan_tier_id) if subscription else None
    users = await session.scalar(select(func.count()).select_from(User).where(User.bot_id == bot_id))
    signed = case((Transaction.kind == "refund", -Transaction.amount_kopeks),
                  (Transaction.kind.in_(INCOME_KINDS), Transaction.amount_kopeks), else_=0)
    income = await session.scalar(select(func.coalesce(func.sum(signed), 0)).where(
        Transaction.bot_id == bot_id, Transaction.status == "succeeded", Transaction.created_at >= since))
    traffic = await session.scalar(select(func.coalesce(func.sum(TrafficDaily.consumed_bytes), 0)).where(
        TrafficDaily.bot_id == bot_id, TrafficDaily.day >= since.date()))
    return TenantSummary(bot, plan, subscription, int(users or 0), int(income or 0), int(traffic or 0))


async def feature_usage(session: AsyncSession) -> dict[str, int]:
    """For each feature key, on how many tenant bots it is effectively on (features on nowhere are absent)."""
    query = (select(BotFeatureFlag.feature_key, func.count())
             .join(Bot, Bot.id == BotFeatureFlag.bot_id)
             .where(BotFeatureFlag.enabled.is_(True), Bot.is_master.is_(False))
             .group_by(BotFeatureFlag.feature_key))
    return {key: count for key, count in (await session.execute(query)).all()}


@dataclass(frozen=True)
class FeatureHolder:
    """A tenant that has a feature on, and from which layer (default, plan or override)."""

    bot_id: int
    name: str
    username: str | None
    value: str | None
    source: str


async def feature_holders(session: AsyncSession, *, feature_key: str, offset: int = 0,
                          limit: int = 8) -> tuple[list[FeatureHolder], int]:
    """One page of the tenants that have a feature on, by bot id, and how many there are in all."""
    scope = (BotFeatureFlag.feature_key == feature_key, BotFeatureFlag.enabled.is_(True), Bot.is_master.is_(False))
    total = await session.scalar(select(func.count()).select_from(BotFeatureFlag).join(Bot, Bot.id == BotFeatureFlag.bot_id).where(*scope))
    rows = (await session.execute(
        select(Bot.id, Bot.name, Bot.username, BotFeatureFlag.value, BotFeatureFlag.source)
        .join(Bot, Bot.id == BotFeatureFlag.bot_id).where(*scope).order_by(Bot.id).offset(offset).limit(limit)
    )).all()
    return [FeatureHolder(*row) for row in rows], int(total or 0)


@dataclass(frozen=True)
class TenantLine:
    """A tenant in the panel's list: the bot, its plan's name and its end date."""

    bot: Bot
    plan: str | None
    end_date: datetime | None


async def find_tenants(session: AsyncSession, *, status: str | None = None, plan_id: int | None = None,
                       search: str | None = None, offset: int = 0, limit: int = 8) -> tuple[list[TenantLine], int]:
    """One page of tenants by id, filtered by bot status, plan and a name or @username fragment; and the total."""
    conditions = [Bot.is_master.is_(False)]
    if status:
        conditions.append(Bot.status == status)
    if plan_id:
        conditions.append(TenantSubscription.plan_tier_id == plan_id)
    if search and search.strip():
        fragment = f"%{search.strip().removeprefix('@').lower()}%"
        conditions.append(func.lower(Bot.name).like(fragment) | func.lower(func.coalesce(Bot.username, "")).like(fragment))
    joined = (select(Bot, TenantSubscriptionPlan.name, TenantSubscription.end_date)
              .outerjoin(TenantSubscription, TenantSubscription.bot_id == Bot.id)
              .outerjoin(TenantSubscriptionPlan, TenantSubscriptionPlan.id == TenantSubscription.plan_tier_id)
              .where(*conditions))
    total = await session.scalar(select(func.count()).select_from(joined.subquery()))
    rows = (await session.execute(joined.order_by(Bot.id).offset(offset).limit(limit))).all()
    return [TenantLine(bot, plan, end) for bot, plan, end in rows], int(total or 0)


async def receipts_to_review(session: AsyncSession, *, offset: int = 0,
                             limit: int = 8) -> tuple[list[tuple[PlatformPayment, TenantRegistration]], int]:
    """One page of the card receipts waiting for a master admin, oldest first, with their registrations; and the total."""
    waiting = (PlatformPayment.method == CARD, PlatformPayment.status == "awaiting_review")
    joined = select(PlatformPayment, TenantRegistration).join(TenantRegistration, TenantRegistration.id == PlatformPayment.registration_id)
    total = await session.scalar(select(func.count()).select_from(joined.where(*waiting).subquery()))
    rows = (await session.execute(joined.where(*waiting).order_by(PlatformPayment.id).offset(offset).limit(limit))).all()
    return [(payment, registration) for payment, registration in rows], int(total or 0)


@dataclass(frozen=True)
class PlatformStats:
    """The platform at a glance, over the last `days` days (money in minor units, by currency)."""

    days: int
    by_status: dict[str, int]
    by_plan: dict[str, int]
    mrr_kopeks: int
    activation_income: dict[str, int]
    renewal_income: dict[str, int]
    cancelled: int
    expired: int
    expiring: list[tuple[Bot, datetime]]
    top_by_users: list[tuple[Bot, int]]
    top_by_income: list[tuple[Bot, int]]


async def platform_stats(session: AsyncSession, *, days: int = 30, now: datetime | None = None, top: int = 10) -> PlatformStats:
    """Tenants by status and plan; MRR (active subscriptions' monthly prices); activation and renewal income,
    and churn (cancelled, expired, from the audit log), over the last `days`; tenants expiring within 7 days;
    the top tenants by users and by their end users' income in the period."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    tenant = Bot.is_master.is_(False)
    by_status = dict((await session.execute(select(Bot.status, func.count()).where(tenant).group_by(Bot.status))).all())
    by_plan = dict((await session.execute(
        select(TenantSubscriptionPlan.name, func.count()).join(TenantSubscription, TenantSubscription.plan_tier_id == TenantSubscriptionPlan.id)
        .group_by(TenantSubscriptionPlan.name))).all())
    mrr = await session.scalar(
        select(func.coalesce(func.sum(TenantSubscriptionPlan.monthly_price_kopeks), 0)).select_from(TenantSubscription)
        .join(TenantSubscriptionPlan, TenantSubscriptionPlan.id == TenantSubscription.plan_tier_id)
        .where(TenantSubscription.status == "active"))
    paid_at = func.coalesce(PlatformPayment.reviewed_at, PlatformPayment.updated_at)
    income = {purpose: {} for purpose in ("activation", "renewal")}
    for purpose, currency, amount in (await session.execute(
            select(PlatformPayment.purpose, PlatformPayment.currency, func.sum(PlatformPayment.amount_minor))
            .where(PlatformPayment.status == "succeeded", paid_at >= since)
            .group_by(PlatformPayment.purpose, PlatformPayment.currency))).all():
        income[purpose][currency] = int(amount)
    churn = dict((await session.execute(
        select(AuditEntry.action, func.count(func.distinct(AuditEntry.bot_id)))
        .where(AuditEntry.action.in_(("tenant.cancelled", "tenant.expired")), AuditEntry.at >= since)
        .group_by(AuditEntry.action))).all())
    expiring = [(bot, end) for bot, end in (await session.execute(
        select(Bot, TenantSubscription.end_date).join(TenantSubscription, TenantSubscription.bot_id == Bot.id)
        .where(TenantSubscription.status == "active", TenantSubscription.end_date >= now,
               TenantSubscription.end_date < now + timedelta(days=7))
        .order_by(TenantSubscription.end_date))).all()]
    users = func.count(User.id).label("users")
    top_users = (await session.execute(
        select(Bot, users).join(User, User.bot_id == Bot.id).where(tenant).group_by(Bot.id).order_by(users.desc(), Bot.id).limit(top))).all()
    signed = case((Transaction.kind == "refund", -Transaction.amount_kopeks),
                  (Transaction.kind.in_(INCOME_KINDS), Transaction.amount_kopeks), else_=0)
    earned = func.sum(signed).label("income")
    top_income = (await session.execute(
        select(Bot, earned).join(Transaction, Transaction.bot_id == Bot.id)
        .where(tenant, Transaction.status == "succeeded", Transaction.created_at >= since)
        .group_by(Bot.id).order_by(earned.desc(), Bot.id).limit(top))).all()
    return PlatformStats(days, by_status, by_plan, int(mrr or 0), income["activation"], income["renewal"],
                         churn.get("tenant.cancelled", 0), churn.get("tenant.expired", 0), expiring,
                         [(bot, int(n)) for bot, n in top_users], [(bot, int(n)) for bot, n in top_income])


async def mrr_series(session: AsyncSession, *, days: int = 90, now: datetime | None = None) -> list[tuple[date, int]]:
    """MRR on each of the last `days` days: the monthly prices of the subscriptions running that day.

    A subscription runs from its start to its end date (or until it was cancelled); at its plan's current price.
    """
    now = now or utcnow()
    rows = (await session.execute(
        select(TenantSubscription.start_date, TenantSubscription.end_date, TenantSubscription.status,
               TenantSubscription.updated_at, TenantSubscriptionPlan.monthly_price_kopeks)
        .join(TenantSubscriptionPlan, TenantSubscriptionPlan.id == TenantSubscription.plan_tier_id))).all()
    moments = [now - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    change = [0] * (days + 1)  # a difference array: a subscription adds its price from its first day to its last
    for start, end, status, changed, price in rows:
        stopped = changed if status == "cancelled" else end
        first = bisect_left(moments, start)
        last = days if stopped is None else bisect_left(moments, stopped)
        if first < last:
            change[first] += price
            change[last] -= price
    return list(zip((moment.date() for moment in moments), accumulate(change[:days])))


async def audit_page(session: AsyncSession, *, bot_id: int | None = None, feature_key: str | None = None, offset: int = 0,
                     limit: int = 8) -> tuple[list[AuditEntry], int]:
    """One page of the audit log, newest first: all of it, one tenant's, or one feature's (its grants and overrides); and the total."""
    conditions = []
    if bot_id is not None:
        conditions.append(AuditEntry.bot_id == bot_id)
    if feature_key is not None:
        conditions.append(AuditEntry.entity.like(f"%/{feature_key}") | (AuditEntry.entity == f"feature:{feature_key}"))
    total = await session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
    rows = (await session.scalars(select(AuditEntry).where(*conditions).order_by(AuditEntry.id.desc()).offset(offset).limit(limit))).all()
    return list(rows), int(total or 0)
