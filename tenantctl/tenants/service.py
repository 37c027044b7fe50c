"""Tenant bots: provisioning and finding them.

Nothing here does network I/O: an adapter asks Telegram (`tenants.telegram.get_me`) first and
passes the identity in, so `tenant create` and the bot's registration share `provision_tenant`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.crypto import SecretBox, sha256_hex
from tenantctl.core.dates import add_months
from tenantctl.core.db import utcnow
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.plans.effective import recompute_flags
from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.plans.service import get_plan
from tenantctl.tenants.config import (
    CloneReport,
    _check_share_keys,
    _config_rows,
    clone_master_config_to_tenant,
)
from tenantctl.tenants.lookup import get_master
from tenantctl.tenants.models import Bot, BotAdmin
from tenantctl.tenants.rules import (
    DEFAULT_LANGUAGE,
    bot_name_key,
    normalize_bot_name,
    normalize_language,
    normalize_support,
)
from tenantctl.tenants.schemas import tenant_as_dict
from tenantctl.tenants.telegram import BotIdentity, validate_token_format
from tenantctl.tenants.tokens import issue_api_token


@dataclass
class ProvisionResult:
    bot: Bot
    api_token_plaintext: str
    subscription: TenantSubscription
    clone_report: CloneReport
    plan: TenantSubscriptionPlan

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, including the plaintext API token (show it once)."""
        return {
            **tenant_as_dict(self.bot, self.subscription, self.plan),
            "api_token": self.api_token_plaintext,
            "config": {"copied": len(self.clone_report.copied), "excluded": sorted(self.clone_report.excluded), "shared": self.clone_report.shared},
        }


async def ensure_name_free(session: AsyncSession, *, name: str) -> str:
    """The normalised name, unless a bot's name has its key (case, spacing and look-alikes aside); Conflict otherwise."""
    name = normalize_bot_name(name)
    taken = await session.scalar(select(Bot.name).where(Bot.name_key == bot_name_key(name)).limit(1))
    if taken is not None:
        raise Conflict(f"{name!r} looks like {taken!r}, the name of an existing bot: pick another name", code="name_taken")
    return name


async def ensure_token_free(session: AsyncSession, *, fingerprint: str, telegram_id: int | None = None) -> None:
    """Refuse the master's own bot and a bot already registered.

    `fingerprint` is the token's SHA-256; `telegram_id` the bot's id from getMe, when known.
    Tokens held by registrations in progress are `onboarding`'s to check.
    """
    same_bot = Bot.token_fingerprint == fingerprint
    if telegram_id is not None:  # the same bot again, with a rotated token (unless its tenant was cancelled)
        same_bot = same_bot | ((Bot.telegram_id == telegram_id) & (Bot.status != "cancelled"))
    # one query: the master, and any bot holding this token or id (the master first)
    for bot in (await session.scalars(select(Bot).where(same_bot | Bot.is_master.is_(True)).order_by(Bot.is_master.desc()))).all():
        if not bot.is_master:
            raise Conflict(f"that bot is already registered as tenant {bot.name!r} (id {bot.id})", code="token_taken")
        if fingerprint == bot.token_fingerprint or (telegram_id is not None and telegram_id == bot.telegram_id):
            raise Conflict("that is the master bot's own token: a tenant needs its own bot from @BotFather", code="token_master")


async def _create_bot(
    session: AsyncSession, *, name: str, token: str, box: SecretBox, identity: BotIdentity | None,
    language: str, support_username: str | None, owner_telegram_id: int,
) -> Bot:
    bot = Bot(
        is_master=False,
        name=name,
        username=identity.username if identity else None,
        telegram_id=identity.id if identity else None,
        token_encrypted=box.encrypt(token),
        token_fingerprint=sha256_hex(token),
        status="active",
        default_language=language,
        support_username=support_username,
        owner_telegram_id=owner_telegram_id,
    )
    session.add(bot)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create got past the same checks and committed first
        reason = str(exc.orig)
        if "name_key" in reason:
            raise Conflict(f"{name!r} looks like the name of a bot created at the same moment: pick another name",
                           code="name_taken") from None
        if "telegram_id" in reason or "token_fingerprint" in reason:
            raise Conflict("that bot was registered at the same moment by someone else", code="token_taken") from None
        raise
    return bot


async def _add_owner(session: AsyncSession, *, bot: Bot) -> BotAdmin:
    admin = BotAdmin(bot_id=bot.id, telegram_user_id=bot.owner_telegram_id, role="owner")
    session.add(admin)
    await session.flush()
    return admin


async def _start_subscription(session: AsyncSession, *, bot: Bot, plan: TenantSubscriptionPlan, now: datetime) -> TenantSubscription:
    subscription = TenantSubscription(bot_id=bot.id, plan_tier_id=plan.id, status="active", start_date=now, end_date=add_months(now))
    session.add(subscription)
    await session.flush()
    return subscription


async def provision_tenant(
    session: AsyncSession,
    *,
    name: str,
    token: str,
    owner_telegram_id: int,
    plan: str | TenantSubscriptionPlan,
    box: SecretBox,
    actor: str,
    identity: BotIdentity | None,
    language: str = DEFAULT_LANGUAGE,
    support_username: str | None = None,
    share_keys: Iterable[str] = (),
    now: datetime | None = None,
) -> ProvisionResult:
    """Create a tenant bot with its owner, a month's subscription, the master's config, flags and an API token.

    One call, one transaction (the caller's): on any failure nothing is left. `identity` is what
    getMe said (None when the adapter skipped the network check). `plan` is a name, or the row already loaded.
    """
    now = now or utcnow()
    token = validate_token_format(token)
    language = normalize_language(language)
    if not isinstance(owner_telegram_id, int) or owner_telegram_id <= 0:
        raise Invalid("the owner must be a Telegram user id (a positive number)")
    support_username = normalize_support(support_username)
    plan_row = plan if isinstance(plan, TenantSubscriptionPlan) else await get_plan(session, plan)
    if not plan_row.is_active:
        raise Conflict(f"plan {plan_row.name!r} is archived: new tenants cannot join it")
    master = await get_master(session)
    if master is None:
        raise NotFound("no master bot: run `tenantctl master init` first")
    await ensure_token_free(session, fingerprint=sha256_hex(token), telegram_id=identity.id if identity else None)
    share_keys = _check_share_keys(share_keys, (await _config_rows(session, master.id)).keys()) if share_keys else ()
    name = await ensure_name_free(session, name=name)

    bot = await _create_bot(
        session, name=name, token=token, box=box, identity=identity, language=language,
        support_username=support_username, owner_telegram_id=owner_telegram_id,
    )
    await _add_owner(session, bot=bot)
    subscription = await _start_subscription(session, bot=bot, plan=plan_row, now=now)
    clone = await clone_master_config_to_tenant(
        session, tenant_bot_id=bot.id, master_bot_id=master.id, share_keys=share_keys, actor=actor
    )
    await recompute_flags(session, bot_ids=[bot.id], now=now)
    plaintext, _token = await issue_api_token(session, bot_id=bot.id, actor=actor)
    await record(
        session, actor=actor, action="tenant.create", entity=f"bot:{bot.id}", bot_id=bot.id,
        after={**tenant_as_dict(bot, subscription, plan_row), "verified_with_getme": identity is not None},
    )
    return ProvisionResult(bot=bot, api_token_plaintext=plaintext, subscription=subscription, clone_report=clone, plan=plan_row)


async def get_tenant(session: AsyncSession, bot_id: int, *, for_update: bool = False) -> Bot:
    """The tenant bot with this id, or NotFound."""
    query = select(Bot).where(Bot.id == bot_id, Bot.is_master.is_(False))
    bot = await session.scalar(query.with_for_update() if for_update else query)
    if bot is None:
        raise NotFound(f"no tenant bot with id {bot_id}")
    return bot


async def get_subscription(session: AsyncSession, bot_id: int, *, for_update: bool = False) -> TenantSubscription | None:
    """The tenant's subscription row (locked with for_update), if it has one."""
    query = select(TenantSubscription).where(TenantSubscription.bot_id == bot_id)
    return await session.scalar(query.with_for_update() if for_update else query)


