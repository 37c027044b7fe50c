"""Renewing an end user's paid subscription: how many days before its end the renewal is offered, and the reminders due.

A reminder goes out once per subscription and period: `due_reminders` finds the active subscriptions that end within
their bot's window and were not reminded yet, the runner sends each through its tenant's bot, and only then
`mark_reminded` records it. An extension (`grant_subscription`) starts a new period, to be reminded of in its turn. A user
whom the bot cannot write to (they blocked it) is marked blocked and not reminded until they write to the bot again.
Every query is scoped by bot_id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.customers.models import BotPlan, Subscription, User
from tenantctl.tenants.models import Bot

AUTO_RENEWAL = "auto_renewal"
# the auto_renewal config keys naming the days ahead, the first one set wins: a list ("3,1") counts by its largest
REMIND_DAYS_KEYS = ("AUTOPAY_WARNING_DAYS", "DEFAULT_AUTOPAY_DAYS_BEFORE")
DEFAULT_REMIND_DAYS = 3
MAX_REMIND_DAYS = 30


def remind_days(config: Mapping[str, Any]) -> int:
    """Days before its end that a subscription's renewal is offered, from the auto_renewal feature's config (else 3)."""
    for key in REMIND_DAYS_KEYS:
        value = config.get(key)
        items = value if isinstance(value, (list, tuple)) else str(value if value is not None else "").split(",")
        try:
            days = max(int(str(item).strip()) for item in items)
        except ValueError:  # unset, empty or not whole numbers: the next key
            continue
        if days >= 1:
            return min(days, MAX_REMIND_DAYS)
    return DEFAULT_REMIND_DAYS


def renewal_due(subscription: Subscription, *, days: int, now: datetime) -> bool:
    """Whether the user is offered a renewal: the subscription expired, or it is paid and ends within `days`."""
    return subscription.status == "expired" or (subscription.status == "active" and subscription.end_date <= now + timedelta(days=days))


@dataclass(frozen=True)
class Reminder:
    """An active subscription to remind of its end: send it through its bot after commit, then `mark_reminded`."""

    bot_id: int
    subscription_id: int
    user_id: int
    telegram_id: int
    language_code: str | None
    end_date: datetime
    plan_id: int | None  # the plan it was bought with, while that is still on sale


async def due_reminders(session: AsyncSession, *, windows: Mapping[int, int], now: datetime, limit: int = 100) -> list[Reminder]:
    """The active subscriptions of the bots in `windows` (bot id: days ahead) ending within their bot's window and not
    reminded this period, of active bots and of users who have not blocked them; the soonest end first."""
    bots_by_days: dict[int, list[int]] = defaultdict(list)
    for bot_id, days in windows.items():
        bots_by_days[days].append(bot_id)
    if not bots_by_days:
        return []
    within = or_(*(and_(Subscription.bot_id.in_(bots), Subscription.end_date <= now + timedelta(days=days))
                   for days, bots in sorted(bots_by_days.items())))
    rows = await session.execute(
        select(Subscription.bot_id, Subscription.id, Subscription.user_id, User.telegram_id, User.language_code, Subscription.end_date,
               BotPlan.id)
        .join(User, and_(User.id == Subscription.user_id, User.bot_id == Subscription.bot_id))
        .join(Bot, Bot.id == Subscription.bot_id)
        .outerjoin(BotPlan, and_(BotPlan.id == Subscription.bot_plan_id, BotPlan.bot_id == Subscription.bot_id, BotPlan.is_active.is_(True)))
        .where(within, Subscription.status == "active", Subscription.end_date > now, Subscription.renewal_reminded_at.is_(None),
               User.is_blocked.is_(False), Bot.status == "active")
        .order_by(Subscription.end_date, Subscription.id).limit(limit))
    return [Reminder(*row) for row in rows.all()]


async def mark_reminded(session: AsyncSession, *, bot_id: int, subscription_id: int, now: datetime) -> None:
    """The bot sent this subscription's renewal reminder for the current period."""
    await session.execute(update(Subscription).where(Subscription.id == subscription_id, Subscription.bot_id == bot_id,
                                                     Subscription.renewal_reminded_at.is_(None))
                          .values(renewal_reminded_at=now))


async def mark_blocked(session: AsyncSession, *, bot_id: int, telegram_id: int) -> None:
    """The bot cannot write to this user (they blocked it): no more reminders until they write to it again."""
    await session.execute(update(User).where(User.bot_id == bot_id, User.telegram_id == telegram_id).values(is_blocked=True))
