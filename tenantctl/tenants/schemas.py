"""Read shapes of the tenants domain: JSON-ready dicts, never a token, hash or secret."""

from __future__ import annotations

from typing import Any

from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.tenants.models import ApiToken, Bot, BotAdmin


def bot_as_dict(bot: Bot) -> dict[str, Any]:
    """JSON-ready form of a bot (never its token or webhook secret)."""
    return {
        "id": bot.id,
        "name": bot.name,
        "username": bot.username,
        "telegram_id": bot.telegram_id,
        "is_master": bot.is_master,
        "status": bot.status,
        "language": bot.default_language,
        "support_username": bot.support_username,
        "owner_telegram_id": bot.owner_telegram_id,
    }


def tenant_as_dict(bot: Bot, subscription: TenantSubscription | None, plan: TenantSubscriptionPlan | None) -> dict[str, Any]:
    """A bot with its subscription and plan, JSON-ready."""
    return {
        **bot_as_dict(bot),
        "plan": plan.name if plan else None,
        "subscription_status": subscription.status if subscription else None,
        "start_date": subscription.start_date.isoformat() if subscription else None,
        "end_date": subscription.end_date.isoformat() if subscription and subscription.end_date else None,
    }


def admin_as_dict(admin: BotAdmin) -> dict[str, Any]:
    return {"telegram_user_id": admin.telegram_user_id, "role": admin.role, "since": admin.created_at.isoformat() if admin.created_at else None}


def token_as_dict(token: ApiToken) -> dict[str, Any]:
    """An API token's public facts: prefix and times, never the hash."""
    return {
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat() if token.created_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }
