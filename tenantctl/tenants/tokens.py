"""Tenant API tokens: shown once, stored as prefix and SHA-256 only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.crypto import new_api_token
from tenantctl.core.db import utcnow
from tenantctl.core.errors import Conflict, NotFound
from tenantctl.tenants.models import ApiToken


async def issue_api_token(session: AsyncSession, *, bot_id: int, actor: str) -> tuple[str, ApiToken]:
    """A new API token for a tenant: (plaintext, row). Only the prefix and SHA-256 are stored."""
    plaintext, prefix, digest = new_api_token()
    token = ApiToken(bot_id=bot_id, prefix=prefix, token_hash=digest)
    session.add(token)
    await session.flush()
    await record(session, actor=actor, action="token.issue", entity=f"bot:{bot_id}/token:{prefix}", bot_id=bot_id)
    return plaintext, token


async def list_api_tokens(session: AsyncSession, *, bot_id: int) -> list[ApiToken]:
    """A tenant's API tokens, oldest first, revoked ones included."""
    return list((await session.scalars(select(ApiToken).where(ApiToken.bot_id == bot_id).order_by(ApiToken.id))).all())


async def revoke_api_token(session: AsyncSession, *, bot_id: int, prefix: str, actor: str, now: datetime | None = None) -> ApiToken:
    """Revoke one of a tenant's API tokens by its prefix."""
    prefix = prefix.strip()
    token = await session.scalar(select(ApiToken).where(ApiToken.bot_id == bot_id, ApiToken.prefix == prefix))
    if token is None:
        raise NotFound(f"bot {bot_id} has no API token {prefix!r}")
    if token.revoked_at is not None:
        raise Conflict(f"API token {prefix} was revoked already on {token.revoked_at:%Y-%m-%d %H:%M} UTC")
    token.revoked_at = now or utcnow()
    await session.flush()
    await record(session, actor=actor, action="token.revoke", entity=f"bot:{bot_id}/token:{prefix}", bot_id=bot_id)
    return token
