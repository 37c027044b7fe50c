"""Small builders for test data that the services under test do not create themselves."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.db import utcnow
from tenantctl.flags.catalogue import mode_is_on
from tenantctl.flags.models import Feature
from tenantctl.plans.models import TenantSubscription
from tenantctl.tenants.models import Bot


def feature(key: str, *, kind: str = "switch", enabled: bool = False, value: str | None = None,
            allowed: tuple[str, ...] = (), config: dict | None = None, secret: tuple[str, ...] = (),
            category: str = "other") -> Feature:
    """A catalogue row as `flags sync` would store it."""
    config = config or {}
    if kind == "mode":
        enabled = mode_is_on(value)
    return Feature(key=key, env_key=f"{key.upper()}_ENABLED" if kind == "switch" else f"{key.upper()}_MODE",
                   category=category, kind=kind, default_enabled=enabled, default_value=value,
                   allowed_values=list(allowed), default_config=config, config_keys=list(config),
                   secret_keys=list(secret))


async def tenants(session: AsyncSession, plan_id: int, count: int, *, status: str = "active") -> list[int]:
    """`count` active tenant bots subscribed to `plan_id`; returns their ids."""
    bots = [Bot(name=f"t{secrets.token_hex(4)}", token_encrypted="x", token_fingerprint=secrets.token_hex(32),
                status="active") for _ in range(count)]
    session.add_all(bots)
    await session.flush()
    session.add_all([TenantSubscription(bot_id=b.id, plan_tier_id=plan_id, status=status,
                                        end_date=utcnow() + timedelta(days=30)) for b in bots])
    await session.flush()
    return [b.id for b in bots]
