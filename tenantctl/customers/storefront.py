"""What a tenant bot's end users get: their account, the trial, their subscription. Every query is scoped by bot_id."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.db import conflict_insert
from tenantctl.core.errors import Conflict, Invalid
from tenantctl.customers.models import RUNNING_STATUSES, Subscription, Transaction, User
from tenantctl.customers.provisioning import grant_subscription
from tenantctl.flags.models import BotFeatureFlag

TRIAL_KEYS = {"days": "TRIAL_DURATION_DAYS", "traffic_gb": "TRIAL_TRAFFIC_LIMIT_GB", "devices": "TRIAL_DEVICE_LIMIT"}
TRIAL_DEFAULTS = {"days": 3, "traffic_gb": 10, "devices": 1}
REFERRAL_FEATURE = "referral_program"
REFERRAL_BONUS_KEY = "REFERRAL_INVITER_BONUS_KOPEKS"  # what an inviter gets on the balance, once per invitee's first payment
REFERRAL_PREFIX = "ref_"


_USER_BY_TELEGRAM_ID = select(User).where(User.bot_id == bindparam("bot_id"), User.telegram_id == bindparam("telegram_id"))
_LATEST_SUBSCRIPTION = (select(Subscription).where(Subscription.bot_id == bindparam("bot_id"), Subscription.user_id == bindparam("user_id"))
                        .order_by(Subscription.end_date.desc()).limit(1))


@functools.cache
def _user_upsert(dialect_name: str) -> Any:
    """INSERT … ON CONFLICT for a new user, built once per dialect (building its `excluded` columns costs milliseconds).
    On the table, not the entity: the ORM's bulk-insert path with RETURNING costs more than reading the row back."""
    insert = conflict_insert(dialect_name, User.__table__).values(
        {name: bindparam(name) for name in ("bot_id", "telegram_id", "username", "first_name", "language_code")})
    return insert.on_conflict_do_update(index_elements=["bot_id", "telegram_id"],
                                        set_={"username": insert.excluded.username, "is_blocked": False})


async def ensure_user(session: AsyncSession, *, bot_id: int, telegram_id: int, username: str | None, first_name: str | None,
                      language_code: str | None) -> User:
    """The bot's end user with this Telegram id, created on first contact. A known user is only read (their username
    written when it changed, and one who writes to the bot has not blocked it), so an update that changes nothing
    writes nothing."""
    username = (username or None) and username[:64]
    user = await session.scalar(_USER_BY_TELEGRAM_ID, {"bot_id": bot_id, "telegram_id": telegram_id})
    if user is not None:
        if user.username != username:
            user.username = username
        if user.is_blocked:
            user.is_blocked = False
        return user
    values = {"bot_id": bot_id, "telegram_id": telegram_id, "username": username,
              "first_name": (first_name or None) and first_name[:128], "language_code": (language_code or None) and language_code[:8]}
    await session.execute(_user_upsert(session.bind.dialect.name), values)
    return await session.scalar(_USER_BY_TELEGRAM_ID, {"bot_id": bot_id, "telegram_id": telegram_id},
                                execution_options={"populate_existing": True})


async def current_subscription(session: AsyncSession, *, bot_id: int, user_id: int) -> Subscription | None:
    """The user's latest subscription with this bot (running or not), if any."""
    return await session.scalar(_LATEST_SUBSCRIPTION, {"bot_id": bot_id, "user_id": user_id})


def _whole(config: dict[str, Any], name: str) -> int:
    value = config.get(TRIAL_KEYS[name], TRIAL_DEFAULTS[name])
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"the trial's {TRIAL_KEYS[name]} is not a whole number") from None
    return max(number, 0)


async def take_trial(session: AsyncSession, *, bot_id: int, user: User, config: dict[str, Any], now: datetime) -> Subscription:
    """The trial (days, traffic and devices from the feature's config), once per user; refused while a subscription runs."""
    if user.bot_id != bot_id:
        raise Invalid("not this bot's user")
    if user.trial_used_at is not None:
        raise Conflict("trial_taken")
    running = await current_subscription(session, bot_id=bot_id, user_id=user.id)
    if running is not None and running.status in RUNNING_STATUSES and running.end_date > now:
        raise Conflict("trial_while_subscribed")
    days = _whole(config, "days")
    if days < 1:
        raise Invalid("the trial lasts no days")
    user.trial_used_at = now
    return await grant_subscription(session, bot_id=bot_id, user=user, days=days, traffic_gb=_whole(config, "traffic_gb"),
                                    devices=max(1, _whole(config, "devices")), plan_id=None, status="trial", now=now)


async def attach_referrer(session: AsyncSession, *, bot_id: int, user: User, start_argument: str | None) -> User | None:
    """The inviter named by a `ref_<telegram id>` start link, kept for a newcomer (no subscription yet) invited by
    another user of the same bot; None when the link names nobody or the user is not new."""
    code = (start_argument or "").removeprefix(REFERRAL_PREFIX)
    if not (start_argument or "").startswith(REFERRAL_PREFIX) or not code.isdigit() or len(code) > 15:
        return None
    if user.referred_by_id is not None or await session.scalar(select(exists().where(Subscription.user_id == user.id))):
        return None
    inviter = await session.scalar(select(User).where(User.bot_id == bot_id, User.telegram_id == int(code)))
    if inviter is None or inviter.id == user.id:
        return None
    user.referred_by_id = inviter.id
    await session.flush()
    return inviter


async def reward_referrer(session: AsyncSession, *, bot_id: int, invitee: User, actor: str) -> int:
    """The invitee paid: their inviter gets the referral feature's bonus on the balance, once per invitee (kopeks, 0: none)."""
    if invitee.referred_by_id is None:
        return 0
    flag = await session.get(BotFeatureFlag, (bot_id, REFERRAL_FEATURE))
    try:
        bonus = int((flag.config or {}).get(REFERRAL_BONUS_KEY, 0)) if flag is not None and flag.enabled else 0
    except (TypeError, ValueError):
        bonus = 0
    if bonus <= 0:
        return 0
    once = conflict_insert(session.bind.dialect.name, Transaction).values(
        bot_id=bot_id, user_id=invitee.referred_by_id, kind="deposit", status="succeeded", amount_kopeks=bonus,
        payment_method="balance", external_id=f"referral:{invitee.id}").on_conflict_do_nothing().returning(Transaction.id)
    if await session.scalar(once) is None:  # rewarded before
        return 0
    await session.execute(update(User).where(User.id == invitee.referred_by_id, User.bot_id == bot_id)
                          .values(balance_kopeks=User.balance_kopeks + bonus))
    await record(session, actor=actor, action="referral.rewarded", entity=f"user:{invitee.referred_by_id}", bot_id=bot_id,
                 after={"invitee": invitee.id, "bonus_kopeks": bonus})
    return bonus
