"""Tenant API tokens: shown once, stored as prefix and SHA-256 only."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.crypto import API_TOKEN_PREFIX_LENGTH, constant_time_equal, new_api_token, sha256_hex
from tenantctl.core.db import utcnow
from tenantctl.core.errors import Conflict, Forbidden, NotFound, Unauthorized
from tenantctl.flags.live import notify_flags_changed
from tenantctl.tenants.models import ApiToken, Bot


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


LAST_USED_PRECISION = timedelta(minutes=1)  # last_used_at is written at most this often per token


async def authenticate(session: AsyncSession, *, token: str, now: datetime | None = None) -> tuple[ApiToken, Bot]:
    """The API token's row and its tenant: looked up by prefix, compared by SHA-256 in constant time.

    Unauthorized for an unknown or revoked token (the same answer for both); Forbidden when the tenant is
    suspended or cancelled. An expired tenant is let in: its flags are all off.
    """
    now = now or utcnow()
    row = await session.scalar(select(ApiToken).where(ApiToken.prefix == token[:API_TOKEN_PREFIX_LENGTH]))
    if row is None or row.revoked_at is not None or not constant_time_equal(row.token_hash, sha256_hex(token)):
        raise Unauthorized("unknown or revoked API token")
    bot = await session.get(Bot, row.bot_id)
    if bot.status in ("suspended", "cancelled"):
        raise Forbidden(f"tenant {bot.id} is {bot.status}")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        row.last_used_at = now
        await session.flush()
    return row, bot


async def revoke_api_token(session: AsyncSession, *, bot_id: int, prefix: str, actor: str, now: datetime | None = None) -> ApiToken:
    """Revoke one of a tenant's API tokens by its prefix; at commit, running APIs forget the tenant's checked tokens."""
    prefix = prefix.strip()
    token = await session.scalar(select(ApiToken).where(ApiToken.bot_id == bot_id, ApiToken.prefix == prefix))
    if token is None:
        raise NotFound(f"bot {bot_id} has no API token {prefix!r}")
    if token.revoked_at is not None:
        raise Conflict(f"API token {prefix} was revoked already on {token.revoked_at:%Y-%m-%d %H:%M} UTC")
    token.revoked_at = now or utcnow()
    await session.flush()
    await record(session, actor=actor, action="token.revoke", entity=f"bot:{bot_id}/token:{prefix}", bot_id=bot_id)
    await notify_flags_changed(session, bot_ids=[bot_id])
    return token
