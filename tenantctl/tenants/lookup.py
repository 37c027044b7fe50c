"""Finding bots: the master, and a bot by what a person types (an id, @username or name)."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.crypto import sha256_hex
from tenantctl.core.errors import ConfigError, Invalid, NotFound
from tenantctl.core.text import suggest
from tenantctl.tenants.models import Bot


async def resolve_bot(session: AsyncSession, ref: str | int, *, tenants_only: bool = True) -> Bot:
    """The bot named by `ref`: a numeric id, '@username', a username or a bot name."""
    text = str(ref).strip()
    if not text:
        raise Invalid("no bot given: use an id, @username or name")
    query = select(Bot)
    if tenants_only:
        query = query.where(Bot.is_master.is_(False))
    if text.isdigit():  # an id; one longer than any id matches nothing
        bot = await session.scalar(query.where(Bot.id == int(text))) if int(text) < 2**63 else None
    else:
        name = text.removeprefix("@").lower()
        matches = (
            await session.scalars(
                query.where(or_(func.lower(Bot.username) == name, func.lower(Bot.name) == text.lower()))
            )
        ).all()
        if len(matches) > 1:
            raise Invalid(f"{text!r} names {len(matches)} bots: use the id ({', '.join(str(b.id) for b in matches)})")
        bot = matches[0] if matches else None
    if bot is None:
        names = [n for row in (await session.execute(select(Bot.name, Bot.username))).all() for n in row if n]
        raise NotFound(f"no tenant bot {text!r}{suggest(text.removeprefix('@'), names)}")
    return bot


async def get_master(session: AsyncSession) -> Bot | None:
    """The master bot row, if `master init` has run."""
    return await session.scalar(select(Bot).where(Bot.is_master.is_(True)))


async def master_for_token(session: AsyncSession, token: str | None) -> Bot:
    """The master bot, checked against MASTER_BOT_TOKEN: ConfigError when it is unset, not registered, or another bot's."""
    if not token:
        raise ConfigError("MASTER_BOT_TOKEN is not set: it is the master bot's token from @BotFather")
    master = await get_master(session)
    if master is None:
        raise ConfigError("no master bot in the database: run `tenantctl master init` first")
    if master.token_fingerprint != sha256_hex(token):
        raise ConfigError("MASTER_BOT_TOKEN is not the master bot's token (see tenantctl master init)")
    return master
