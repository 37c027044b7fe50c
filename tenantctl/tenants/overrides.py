"""Master-admin overrides of one feature for one tenant, and their expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.db import utcnow
from tenantctl.core.errors import Invalid, NotFound
from tenantctl.flags.models import TenantFeatureOverride
from tenantctl.flags.rollout import validated_rollout
from tenantctl.flags.schemas import override_as_dict
from tenantctl.flags.service import validated_layer
from tenantctl.plans.effective import recompute_flags
from tenantctl.tenants.locks import lock_tenant, lock_tenants


async def set_override(
    session: AsyncSession,
    *,
    bot_id: int,
    feature: str,
    enabled: bool | None,
    actor: str,
    reason: str,
    value: str | None = None,
    config: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
    rollout_percent: int | None = None,
    rollout_by: str | None = None,
    now: datetime | None = None,
) -> TenantFeatureOverride | None:
    """Set an override (enabled None = inherit the plan's value), for everyone or a rollout's share; inherit with no
    config clears it."""
    now = now or utcnow()
    if not reason or not reason.strip():
        raise Invalid("an override needs a reason")
    rollout_percent, rollout_by = validated_rollout(rollout_percent, rollout_by)
    if expires_at is not None and expires_at <= now:
        raise Invalid("the expiry is in the past")
    feature_row, layer = await validated_layer(session, feature=feature, enabled=enabled, value=value, config=config)
    enabled, value, config = layer.enabled, layer.value, layer.config
    await lock_tenant(session, bot_id)
    override = await session.get(TenantFeatureOverride, (bot_id, feature_row.key), with_for_update=True)
    before = override_as_dict(override) if override else None
    entity = f"bot:{bot_id}/{feature_row.key}"
    if enabled is None and value is None and not config:
        if rollout_percent is not None:
            raise Invalid("a rollout needs an override to roll out: --on, --off, --value or a config")
        if override is None:
            raise NotFound(f"bot {bot_id} has no override for {feature_row.key}")
        await session.delete(override)
        await session.flush()
        await record(session, actor=actor, action="override.clear", entity=entity, bot_id=bot_id, before=before, after={"reason": reason})
        await recompute_flags(session, bot_ids=[bot_id], feature_keys=[feature_row.key], now=now)
        return None
    if override is None:
        override = TenantFeatureOverride(bot_id=bot_id, feature_key=feature_row.key)
        session.add(override)
    override.enabled, override.value, override.config_override = enabled, value, config
    override.rollout_percent, override.rollout_by = rollout_percent, rollout_by
    override.expires_at, override.reason, override.created_by = expires_at, reason.strip(), actor
    await session.flush()
    await record(session, actor=actor, action="override.set", entity=entity, bot_id=bot_id, before=before, after=override_as_dict(override))
    await recompute_flags(session, bot_ids=[bot_id], feature_keys=[feature_row.key], now=now)
    return override


async def expire_overrides(session: AsyncSession, *, now: datetime | None = None, bot_id: int | None = None) -> list[TenantFeatureOverride]:
    """Delete overrides whose expiry has passed and recompute the flags they touched."""
    now = now or utcnow()
    query = select(TenantFeatureOverride).where(TenantFeatureOverride.expires_at <= now)
    if bot_id is not None:
        query = query.where(TenantFeatureOverride.bot_id == bot_id)
    await lock_tenants(session, (await session.scalars(query.with_only_columns(TenantFeatureOverride.bot_id))).all())
    expired = list((await session.scalars(query.with_for_update().execution_options(populate_existing=True))).all())
    if not expired:
        return []
    for override in expired:
        await record(
            session,
            actor="system:expiry",
            action="override.expired",
            entity=f"feature:{override.feature_key}",
            bot_id=override.bot_id,
            before=override_as_dict(override),
        )
        await session.delete(override)
    await session.flush()
    await recompute_flags(
        session,
        bot_ids={o.bot_id for o in expired},
        feature_keys={o.feature_key for o in expired},
        now=now,
    )
    return expired


