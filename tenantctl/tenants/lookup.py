"""Finding bots: the master, and a bot by what a person types (an id, @username or name)."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.errors import Invalid, NotFound
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
    if text.isdigit():
        bot = await session.scalar(query.where(Bot.id == int(text)))
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
