"""Who may do what: permissions as data, roles that hold them, and the one check every adapter uses.

Roles: a tenant's `owner` and `admin` (rows of `bot_admins`) hold permissions on their own bot;
a master admin (MASTER_ADMIN_IDS) holds every permission on every bot.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.errors import Forbidden
from tenantctl.tenants.models import BotAdmin


class Permission(StrEnum):
    VIEW_STATISTICS = "view_statistics"
    VIEW_USERS = "view_users"
    VIEW_SUBSCRIPTIONS = "view_subscriptions"
    VIEW_TRANSACTIONS = "view_transactions"
    VIEW_TRAFFIC = "view_traffic"
    MANAGE_PLANS = "manage_plans"
    MANAGE_PRICING = "manage_pricing"
    MANAGE_PAYMENT_CARDS = "manage_payment_cards"
    MANAGE_PAYMENT_GATEWAYS = "manage_payment_gateways"  # gateway settings, not switching gateways on or off
    MANAGE_ADMINS = "manage_admins"
    # master-only
    MANAGE_FEATURE_FLAGS = "manage_feature_flags"
    MANAGE_REMNAWAVE = "manage_remnawave"
    VIEW_MASTER_STATS = "view_master_stats"
    REVIEW_PLATFORM_PAYMENTS = "review_platform_payments"
    MANAGE_TENANTS = "manage_tenants"  # the master admin panel: tenants' plans, lifecycle, tokens


TENANT_ADMIN_PERMISSIONS = frozenset({
    Permission.VIEW_STATISTICS, Permission.VIEW_USERS, Permission.VIEW_SUBSCRIPTIONS, Permission.VIEW_TRANSACTIONS,
    Permission.VIEW_TRAFFIC, Permission.MANAGE_PLANS, Permission.MANAGE_PRICING, Permission.MANAGE_PAYMENT_CARDS,
    Permission.MANAGE_PAYMENT_GATEWAYS,
})
MASTER_ONLY_PERMISSIONS = frozenset({
    Permission.MANAGE_FEATURE_FLAGS, Permission.MANAGE_REMNAWAVE, Permission.VIEW_MASTER_STATS,
    Permission.REVIEW_PLATFORM_PAYMENTS, Permission.MANAGE_TENANTS,
})
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "owner": TENANT_ADMIN_PERMISSIONS | {Permission.MANAGE_ADMINS},
    "admin": TENANT_ADMIN_PERMISSIONS,
    "master_admin": frozenset(Permission),
}


def is_master_admin(master_admins: Iterable[int], telegram_user_id: int | None) -> bool:
    """Whether this Telegram user is one of MASTER_ADMIN_IDS."""
    return telegram_user_id is not None and telegram_user_id in set(master_admins)


_ROLE = select(BotAdmin.role).where(BotAdmin.bot_id == bindparam("bot_id"), BotAdmin.telegram_user_id == bindparam("telegram_user_id"))


async def role_of(session: AsyncSession, *, master_admins: Iterable[int], actor_telegram_id: int,
                  bot_id: int | None) -> str | None:
    """The actor's role on the bot: master_admin, owner, admin, or None."""
    if is_master_admin(master_admins, actor_telegram_id):
        return "master_admin"
    if bot_id is None:
        return None
    return await session.scalar(_ROLE, {"bot_id": bot_id, "telegram_user_id": actor_telegram_id})


async def require(session: AsyncSession, *, master_admins: Iterable[int], actor_telegram_id: int,
                  bot_id: int | None, permission: Permission) -> str:
    """The actor's role if it holds `permission` on the bot (None: the platform); Forbidden otherwise."""
    role = await role_of(session, master_admins=master_admins, actor_telegram_id=actor_telegram_id, bot_id=bot_id)
    if role is None or permission not in ROLE_PERMISSIONS[role]:
        raise Forbidden(f"{permission.value} is not allowed here")
    return role
