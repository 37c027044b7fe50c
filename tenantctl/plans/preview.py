"""What a plan change would do, asked before it is made: the tenants a plan edit reaches, and the
features a tenant's move to another plan turns on or off. Read-only; the changes themselves are
`plans.service`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.db import utcnow
from tenantctl.core.errors import NotFound
from tenantctl.flags.catalogue import mode_off_value
from tenantctl.flags.models import Feature, TenantFeatureOverride
from tenantctl.plans.effective import override_layer_for, plan_layer_for, tenant_flag
from tenantctl.plans.models import (
    PlanFeatureGrant,
    TenantSubscription,
    TenantSubscriptionPlan,
)
from tenantctl.plans.service import get_plan


@dataclass(frozen=True)
class FlagChange:
    """One feature whose effective value a plan change moves from `before` to `after`."""

    key: str
    before: Any
    after: Any


async def tenants_on_plan(session: AsyncSession, *, plan_id: int) -> list[int]:
    """The bot ids subscribed to a plan (whatever their status): the tenants a change of it reaches."""
    query = select(TenantSubscription.bot_id).where(TenantSubscription.plan_tier_id == plan_id).order_by(TenantSubscription.bot_id)
    return list((await session.scalars(query)).all())


async def plan_tenant_counts(session: AsyncSession) -> dict[int, int]:
    """How many tenants each plan has, by plan id (plans without any are absent)."""
    query = select(TenantSubscription.plan_tier_id, func.count()).group_by(TenantSubscription.plan_tier_id)
    return {plan_id: count for plan_id, count in (await session.execute(query)).all()}


def _shown(feature: Feature, enabled: bool, value: str | None) -> Any:
    """A feature's value as `explain_bot_flags` shows it: on/off for a switch, the mode's value (or its off value)."""
    if feature.kind == "mode":
        return value if enabled else mode_off_value(feature.allowed_values)
    return enabled


async def plan_change_preview(session: AsyncSession, *, bot_id: int, plan: str, now: datetime | None = None) -> list[FlagChange]:
    """The features whose effective value changes if the tenant moves to `plan` (its overrides still apply)."""
    now = now or utcnow()
    subscription = await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == bot_id))
    if subscription is None:
        raise NotFound(f"bot {bot_id} has no subscription")
    target = await get_plan(session, plan)
    current = await session.get(TenantSubscriptionPlan, subscription.plan_tier_id)
    grants = {
        (g.plan_tier_id, g.feature_key): g
        for g in (await session.scalars(select(PlanFeatureGrant).where(
            PlanFeatureGrant.plan_tier_id.in_({target.id, subscription.plan_tier_id})))).all()
    }
    overrides = {
        o.feature_key: override_layer_for(o, now)
        for o in (await session.scalars(select(TenantFeatureOverride).where(TenantFeatureOverride.bot_id == bot_id))).all()
    }
    active = subscription.status == "active"
    changes = []
    for feature in (await session.scalars(select(Feature).order_by(Feature.category, Feature.key))).all():
        shown = []
        for plan_row in (current, target):
            layer = plan_layer_for(plan_row, feature, grants.get((plan_row.id, feature.key))) if plan_row else None
            effective = tenant_flag(feature, layer, overrides.get(feature.key), active=active, bot_id=bot_id)
            shown.append(_shown(feature, effective.enabled, effective.value))
        if shown[0] != shown[1]:
            changes.append(FlagChange(feature.key, shown[0], shown[1]))
    return changes
