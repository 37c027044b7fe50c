"""Read-only figures over every domain. Where a tenant asks, every query is scoped by bot_id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.billing.models import PlatformPayment
from tenantctl.billing.schemas import payment_as_dict
from tenantctl.customers.models import User
from tenantctl.flags.models import BotFeatureFlag
from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.tenants.admins import list_admins
from tenantctl.tenants.models import Bot, BotConfiguration
from tenantctl.tenants.schemas import (
    admin_as_dict,
    bot_as_dict,
    tenant_as_dict,
    token_as_dict,
)
from tenantctl.tenants.service import get_subscription, get_tenant
from tenantctl.tenants.tokens import list_api_tokens


@dataclass
class TenantRow:
    bot: Bot
    plan: str | None
    subscription_status: str | None
    end_date: datetime | None
    user_count: int

    def as_dict(self) -> dict[str, Any]:
        return {
            **bot_as_dict(self.bot),
            "plan": self.plan,
            "subscription_status": self.subscription_status,
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "user_count": self.user_count,
        }


async def list_tenants(session: AsyncSession, *, status: str | None = None, plan: str | None = None) -> list[TenantRow]:
    """Every tenant with its plan, end date and user count, in one query."""
    users = select(User.bot_id, func.count().label("n")).group_by(User.bot_id).subquery()
    query = (
        select(Bot, TenantSubscriptionPlan.name, TenantSubscription.status, TenantSubscription.end_date, func.coalesce(users.c.n, 0))
        .outerjoin(TenantSubscription, TenantSubscription.bot_id == Bot.id)
        .outerjoin(TenantSubscriptionPlan, TenantSubscriptionPlan.id == TenantSubscription.plan_tier_id)
        .outerjoin(users, users.c.bot_id == Bot.id)
        .where(Bot.is_master.is_(False))
        .order_by(Bot.id)
    )
    if status:
        query = query.where(Bot.status == status.strip().lower())
    if plan:
        query = query.where(func.lower(TenantSubscriptionPlan.name) == plan.strip().lower())
    return [TenantRow(bot, plan_name, sub_status, end, count) for bot, plan_name, sub_status, end, count in (await session.execute(query)).all()]


async def tenant_details(session: AsyncSession, *, bot_id: int) -> dict[str, Any]:
    """Everything `tenant show` prints: bot, subscription, admins, tokens, config and flag counts, payments."""
    bot = await get_tenant(session, bot_id)
    subscription = await get_subscription(session, bot_id)
    plan = await session.get(TenantSubscriptionPlan, subscription.plan_tier_id) if subscription else None
    config_count = await session.scalar(select(func.count()).select_from(BotConfiguration).where(BotConfiguration.bot_id == bot_id))
    flags_on = await session.scalar(
        select(func.count()).select_from(BotFeatureFlag).where(BotFeatureFlag.bot_id == bot_id, BotFeatureFlag.enabled.is_(True))
    )
    users = await session.scalar(select(func.count()).select_from(User).where(User.bot_id == bot_id))
    payments = (
        await session.scalars(select(PlatformPayment).where(PlatformPayment.bot_id == bot_id).order_by(PlatformPayment.id.desc()).limit(10))
    ).all()
    return {
        **tenant_as_dict(bot, subscription, plan),
        "auto_renewal": subscription.auto_renewal if subscription else None,
        "created_at": bot.created_at.isoformat() if bot.created_at else None,
        "admins": [admin_as_dict(a) for a in await list_admins(session, bot_id=bot_id)],
        "api_tokens": [token_as_dict(t) for t in await list_api_tokens(session, bot_id=bot_id)],
        "config_keys": config_count,
        "features_enabled": flags_on,
        "users": users,
        "payments": [payment_as_dict(p) for p in payments],
    }
