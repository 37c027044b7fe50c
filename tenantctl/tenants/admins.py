"""A tenant bot's admins: the owner and the admins it added."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.tenants.models import BotAdmin
from tenantctl.tenants.permissions import Permission, require
from tenantctl.tenants.service import get_tenant


async def list_admins(session: AsyncSession, *, bot_id: int) -> list[BotAdmin]:
    """A tenant's admins, owner first."""
    query = select(BotAdmin).where(BotAdmin.bot_id == bot_id).order_by(BotAdmin.role.desc(), BotAdmin.telegram_user_id)
    return list((await session.scalars(query)).all())


async def add_admin(session: AsyncSession, *, bot_id: int, telegram_user_id: int, actor: str) -> BotAdmin:
    """Make a Telegram user an admin of a tenant bot."""
    await get_tenant(session, bot_id)
    if telegram_user_id <= 0:
        raise Invalid("a Telegram user id is a positive number")
    if await session.get(BotAdmin, (bot_id, telegram_user_id)) is not None:
        raise Conflict(f"{telegram_user_id} is an admin of bot {bot_id} already")
    admin = BotAdmin(bot_id=bot_id, telegram_user_id=telegram_user_id, role="admin")
    session.add(admin)
    await session.flush()
    await record(session, actor=actor, action="admin.add", entity=f"bot:{bot_id}/admin:{telegram_user_id}", bot_id=bot_id, after={"role": "admin"})
    return admin


async def remove_admin(session: AsyncSession, *, bot_id: int, telegram_user_id: int, actor: str) -> None:
    """Remove a tenant admin; the owner cannot be removed."""
    admin = await session.get(BotAdmin, (bot_id, telegram_user_id))
    if admin is None:
        raise NotFound(f"{telegram_user_id} is not an admin of bot {bot_id}")
    if admin.role == "owner":
        raise Conflict(f"{telegram_user_id} owns bot {bot_id}: the owner cannot be removed")
    await record(session, actor=actor, action="admin.remove", entity=f"bot:{bot_id}/admin:{telegram_user_id}", bot_id=bot_id, before={"role": admin.role})
    await session.delete(admin)
    await session.flush()


async def add_admin_as(session: AsyncSession, *, bot_id: int, telegram_user_id: int, actor_telegram_id: int,
                       master_admins: Iterable[int]) -> BotAdmin:
    """Add an admin on behalf of a Telegram user, who must hold MANAGE_ADMINS on the bot (its owner or a master admin)."""
    await require(session, master_admins=master_admins, actor_telegram_id=actor_telegram_id, bot_id=bot_id,
                  permission=Permission.MANAGE_ADMINS)
    return await add_admin(session, bot_id=bot_id, telegram_user_id=telegram_user_id, actor=f"tg:{actor_telegram_id}")


async def remove_admin_as(session: AsyncSession, *, bot_id: int, telegram_user_id: int, actor_telegram_id: int,
                          master_admins: Iterable[int]) -> None:
    """Remove an admin on behalf of a Telegram user who holds MANAGE_ADMINS on the bot; never the owner."""
    await require(session, master_admins=master_admins, actor_telegram_id=actor_telegram_id, bot_id=bot_id,
                  permission=Permission.MANAGE_ADMINS)
    await remove_admin(session, bot_id=bot_id, telegram_user_id=telegram_user_id, actor=f"tg:{actor_telegram_id}")
