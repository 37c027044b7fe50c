"""Tenant bots: the master, provisioning, config cloning, lifecycle, admins, API tokens, payments.

Nothing here does network I/O: an adapter asks Telegram (`tenants.telegram.get_me`) first and
passes the identity in, so `tenant create` and the bot's registration share `provision_tenant`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.billing.models import (
    OPEN_REGISTRATION_STATUSES,
    PAYMENT_METHODS,
    REGISTRATION_ABANDON_AFTER,
    PlatformPayment,
    TenantRegistration,
)
from tenantctl.core.crypto import SecretBox, new_api_token, new_webhook_secret, sha256_hex
from tenantctl.core.db import utcnow
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.flags.catalogue import is_master_only, is_secret_key
from tenantctl.flags.envfile import parse_env_file
from tenantctl.flags.models import BotFeatureFlag
from tenantctl.flags.resolution import recompute_flags
from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.plans.service import get_plan
from tenantctl.stats.models import User
from tenantctl.tenants.models import ApiToken, Bot, BotAdmin, BotConfiguration
from tenantctl.tenants.telegram import BotIdentity, validate_token_format

LANGUAGES = ("fa", "ru", "en")
# Config keys a tenant gets from its own registration, never from the master:
# BOT_NAME (the name given at creation), BOT_USERNAME (from getMe; None offline),
# DEFAULT_LANGUAGE (--language) and SUPPORT_USERNAME (--support; None if not given).
TENANT_DEFAULT_KEYS = ("BOT_NAME", "BOT_USERNAME", "DEFAULT_LANGUAGE", "SUPPORT_USERNAME")
# tenantctl's own settings (see core/settings.py): they configure the platform, never a tenant bot.
PLATFORM_SETTING_KEYS = frozenset({
    "DATABASE_URL", "TENANTCTL_SECRET_KEY", "TENANTCTL_KEY_FILE", "MASTER_BOT_TOKEN", "MASTER_ADMIN_IDS",
    "TELEGRAM_API_SERVER", "REDIS_URL", "ENV_EXAMPLE_PATH", "STARS_RATE_KOPEKS", "GRACE_PERIOD_DAYS", "RENEWAL_NOTICE_DAYS",
})
_SUPPORT_RE = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


def add_months(moment: datetime, months: int = 1) -> datetime:
    """The same day `months` calendar months later (clamped: Jan 31 + 1 month = Feb 28/29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def is_sensitive_key(key: str) -> bool:
    """Stored encrypted on the master, never cloned unshared: secret-looking or master-only."""
    return is_secret_key(key) or is_master_only(key)


def exclusion_reason(key: str, share_keys: Iterable[str] = ()) -> str | None:
    """Why the cloner leaves a master key out of a tenant, or None if it copies it."""
    if is_master_only(key):  # MASTER_ONLY_CONFIGS and the master's database settings
        return "master-only"
    if key in PLATFORM_SETTING_KEYS:
        return "platform setting (tenantctl's own)"
    if is_secret_key(key) and key not in set(share_keys):
        return f"secret-looking (copy it with --share {key})"
    return None


def plaintext_of(row: BotConfiguration, box: SecretBox) -> Any:
    """A configuration row's value, decrypted if it is stored encrypted."""
    if row.encrypted_value is not None:
        return box.decrypt(row.encrypted_value)
    return row.value


# ----- the master ---------------------------------------------------------------------------


@dataclass
class MasterReport:
    bot: Bot
    created: bool
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "master": bot_as_dict(self.bot),
            "created": self.created,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "warnings": self.warnings,
        }


async def get_master(session: AsyncSession) -> Bot | None:
    """The master bot row, if `master init` has run."""
    return await session.scalar(select(Bot).where(Bot.is_master.is_(True)))


def master_token_from(*, token: str | None, env_path: str) -> str:
    """The master's token: MASTER_BOT_TOKEN if set, else BOT_TOKEN in the operator's `.env`."""
    if token and token.strip():
        return token.strip()
    entry = parse_env_file(env_path).entries.get("BOT_TOKEN")
    if entry is None or not (entry.value or "").strip():
        raise Invalid(f"no master bot token: set MASTER_BOT_TOKEN (or BOT_TOKEN in {env_path})")
    return entry.value.strip()


async def register_master(
    session: AsyncSession, *, token: str, env_path: str, box: SecretBox, actor: str, identity: BotIdentity | None = None
) -> MasterReport:
    """Register (or update) the master bot and import the operator's `.env` as its configuration."""
    token = validate_token_format(token)
    parsed = parse_env_file(env_path)
    fingerprint = sha256_hex(token)
    taken = await session.scalar(select(Bot).where(Bot.token_fingerprint == fingerprint, Bot.is_master.is_(False)))
    if taken is not None:
        raise Conflict(f"that token belongs to tenant bot {taken.name!r}, not to the master")
    master = await get_master(session)
    report = MasterReport(bot=master, created=master is None, warnings=[f"line {w.line}: {w.message}" for w in parsed.warnings])
    if master is None:
        master = Bot(is_master=True, name="master", status="active", webhook_secret=new_webhook_secret())
        session.add(master)
        report.bot = master
    if master.token_fingerprint != fingerprint:  # new, or the token was rotated
        master.token_encrypted, master.token_fingerprint = box.encrypt(token), fingerprint
    if identity is not None:
        master.telegram_id, master.username = identity.id, identity.username
        master.name = (identity.first_name or identity.username or "master")[:64]
    language = parsed.entries.get("DEFAULT_LANGUAGE")
    if language is not None and language.value in LANGUAGES:
        master.default_language = language.value
    await session.flush()

    existing = {
        row.config_key: row
        for row in (await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == master.id))).all()
    }
    for key, entry in parsed.entries.items():
        row = existing.pop(key, None)
        if row is None:
            row = BotConfiguration(bot_id=master.id, config_key=key, source="master")
            session.add(row)
            report.added.append(key)
        elif plaintext_of(row, box) != entry.value or (row.value is not None and is_sensitive_key(key)):
            report.changed.append(key)
        else:
            report.unchanged += 1
            continue
        _store_value(row, key, entry.value, box)
    for key, row in existing.items():
        await session.delete(row)
        report.removed.append(key)
    await session.flush()
    await record(
        session,
        actor=actor,
        action="master.init",
        entity=f"bot:{master.id}",
        bot_id=master.id,
        after={"created": report.created, "source": str(env_path), "added": report.added, "changed": report.changed, "removed": report.removed},
    )
    return report


def _store_value(row: BotConfiguration, key: str, value: str | None, box: SecretBox) -> None:
    if is_sensitive_key(key):
        row.value, row.encrypted_value = None, (None if value is None else box.encrypt(value))
    else:
        row.value, row.encrypted_value = value, None


# ----- the config cloner --------------------------------------------------------------------


@dataclass
class CloneReport:
    copied: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    kept_tenant_edited: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "copied": self.copied,
            "excluded": self.excluded,
            "kept_tenant_edited": self.kept_tenant_edited,
            "defaults": self.defaults,
            "removed": self.removed,
            "shared": self.shared,
            "dry_run": self.dry_run,
        }


def tenant_defaults(bot: Bot) -> dict[str, Any]:
    """The tenant-specific configuration values (see TENANT_DEFAULT_KEYS)."""
    return {
        "BOT_NAME": bot.name,
        "BOT_USERNAME": bot.username,
        "DEFAULT_LANGUAGE": bot.default_language,
        "SUPPORT_USERNAME": bot.support_username,
    }


async def clone_master_config_to_tenant(
    session: AsyncSession,
    *,
    tenant_bot_id: int,
    actor: str,
    master_bot_id: int | None = None,
    share_keys: Iterable[str] = (),
    dry_run: bool = False,
) -> CloneReport:
    """Snapshot-copy the master's configuration to a tenant, without master-only or unshared secret keys.

    Rows the tenant edited (source 'tenant') are kept; earlier cloned rows that the new snapshot
    no longer has are removed. With dry_run nothing is written.
    """
    tenant = await session.get(Bot, tenant_bot_id)
    if tenant is None or tenant.is_master:
        raise NotFound(f"no tenant bot with id {tenant_bot_id}")
    master = await session.get(Bot, master_bot_id) if master_bot_id is not None else await get_master(session)
    if master is None or not master.is_master:
        raise NotFound("no master bot: run `tenantctl master init` first")
    master_rows = await _config_rows(session, master.id)
    share = _check_share_keys(share_keys, master_rows)
    tenant_rows = await _config_rows(session, tenant.id)
    edited = {key for key, row in tenant_rows.items() if row.source == "tenant"}
    report = CloneReport(dry_run=dry_run, shared=share)
    wanted: dict[str, tuple[Any, str | None]] = {}
    for key, row in sorted(master_rows.items()):
        if key in TENANT_DEFAULT_KEYS:
            continue
        reason = exclusion_reason(key, share)
        if reason:
            report.excluded[key] = reason
        elif key in edited:
            report.kept_tenant_edited.append(key)
        else:
            wanted[key] = (row.value, row.encrypted_value)
            report.copied.append(key)
    for key, value in tenant_defaults(tenant).items():
        if key in edited:
            report.kept_tenant_edited.append(key)
        else:
            wanted[key] = (value, None)
            report.defaults[key] = value
    report.removed = sorted(key for key, row in tenant_rows.items() if row.source == "cloned" and key not in wanted)
    if dry_run:
        return report
    for key, (value, encrypted) in wanted.items():
        row = tenant_rows.get(key)
        if row is None:
            row = BotConfiguration(bot_id=tenant.id, config_key=key)
            session.add(row)
        row.value, row.encrypted_value, row.source = value, encrypted, "cloned"
    for key in report.removed:
        await session.delete(tenant_rows[key])
    await session.flush()
    await record(
        session,
        actor=actor,
        action="tenant.clone_config",
        entity=f"bot:{tenant.id}",
        bot_id=tenant.id,
        after={"copied": len(report.copied), "excluded": sorted(report.excluded), "shared": share,
               "kept_tenant_edited": report.kept_tenant_edited, "removed": report.removed},
    )
    return report


def _check_share_keys(share_keys: Iterable[str], master_keys: Iterable[str]) -> list[str]:
    """The keys to share, sorted; Invalid for a key the master lacks or one that is never shared."""
    share, known = sorted({key.strip() for key in share_keys if key.strip()}), set(master_keys)
    for key in share:
        if key not in known:
            raise Invalid(f"--share {key}: the master has no configuration key {key}")
        if is_master_only(key) or key in PLATFORM_SETTING_KEYS:
            raise Invalid(f"--share {key}: {exclusion_reason(key)}, never shared")
    return share


async def _config_rows(session: AsyncSession, bot_id: int) -> dict[str, BotConfiguration]:
    rows = await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == bot_id))
    return {row.config_key: row for row in rows.all()}


# ----- provisioning -------------------------------------------------------------------------


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


def normalize_support(username: str | None) -> str | None:
    """'@name' (added if missing), or None; Invalid unless it is a Telegram username."""
    if username is None or not username.strip():
        return None
    text = "@" + username.strip().removeprefix("@")
    if not _SUPPORT_RE.fullmatch(text):
        raise Invalid(f"support username {username!r} is not a Telegram username (5-32 letters, digits or _)")
    return text


def _check_inputs(name: str, language: str, owner_telegram_id: int) -> tuple[str, str]:
    name = (name or "").strip()
    if not 3 <= len(name) <= 64:
        raise Invalid("the bot name must be 3 to 64 characters")
    language = (language or "").strip().lower()
    if language not in LANGUAGES:
        raise Invalid(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    if not isinstance(owner_telegram_id, int) or owner_telegram_id <= 0:
        raise Invalid("the owner must be a Telegram user id (a positive number)")
    return name, language


async def ensure_token_free(
    session: AsyncSession, *, fingerprint: str, telegram_id: int | None = None, registration_id: int | None = None
) -> None:
    """Refuse the master's own bot, a bot already registered, and a token another open registration holds.

    `fingerprint` is the token's SHA-256; `telegram_id` the bot's id from getMe, when known.
    """
    master = await get_master(session)
    if master is not None and (fingerprint == master.token_fingerprint or (telegram_id is not None and telegram_id == master.telegram_id)):
        raise Conflict("that is the master bot's own token: a tenant needs its own bot from @BotFather", code="token_master")
    same_bot = Bot.token_fingerprint == fingerprint
    if telegram_id is not None:
        same_bot = same_bot | (Bot.telegram_id == telegram_id)
    taken = await session.scalar(select(Bot).where(same_bot).limit(1))
    if taken is not None:
        raise Conflict(f"that bot is already registered as tenant {taken.name!r} (id {taken.id})", code="token_taken")
    reserved = select(TenantRegistration.id).where(
        TenantRegistration.token_fingerprint == fingerprint,
        TenantRegistration.status.in_(OPEN_REGISTRATION_STATUSES),
        TenantRegistration.updated_at > utcnow() - REGISTRATION_ABANDON_AFTER,
    )
    if registration_id is not None:
        reserved = reserved.where(TenantRegistration.id != registration_id)
    if await session.scalar(reserved.limit(1)):
        raise Conflict("that bot token is held by a registration in progress (waiting for its payment)", code="token_taken")


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
        webhook_secret=new_webhook_secret(),
    )
    session.add(bot)
    await session.flush()
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
    plan: str,
    box: SecretBox,
    actor: str,
    identity: BotIdentity | None,
    language: str = "ru",
    support_username: str | None = None,
    share_keys: Iterable[str] = (),
    registration_id: int | None = None,
    now: datetime | None = None,
) -> ProvisionResult:
    """Create a tenant bot with its owner, a month's subscription, the master's config, flags and an API token.

    One call, one transaction (the caller's): on any failure nothing is left. `identity` is what
    getMe said (None when the adapter skipped the network check); `registration_id` is the
    self-service registration this completes, whose hold on the token is its own.
    """
    now = now or utcnow()
    token = validate_token_format(token)
    name, language = _check_inputs(name, language, owner_telegram_id)
    support_username = normalize_support(support_username)
    plan_row = await get_plan(session, plan)
    if not plan_row.is_active:
        raise Conflict(f"plan {plan_row.name!r} is archived: new tenants cannot join it")
    master = await get_master(session)
    if master is None:
        raise NotFound("no master bot: run `tenantctl master init` first")
    await ensure_token_free(session, fingerprint=sha256_hex(token), telegram_id=identity.id if identity else None,
                            registration_id=registration_id)
    share_keys = _check_share_keys(share_keys, (await _config_rows(session, master.id)).keys()) if share_keys else ()
    if await session.scalar(select(Bot.id).where(func.lower(Bot.name) == name.lower())):
        raise Conflict(f"a bot named {name!r} exists already: pick another name")

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


# ----- reading tenants ----------------------------------------------------------------------


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


@dataclass
class TenantRow:
    bot: Bot
    plan: str | None
    subscription_status: str | None
    end_date: datetime | None
    user_count: int

    def as_dict(self) -> dict[str, Any]:
        return {
            **bot_as_dict(self.bot),
            "plan": self.plan,
            "subscription_status": self.subscription_status,
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "user_count": self.user_count,
        }


async def list_tenants(session: AsyncSession, *, status: str | None = None, plan: str | None = None) -> list[TenantRow]:
    """Every tenant with its plan, end date and user count, in one query."""
    users = select(User.bot_id, func.count().label("n")).group_by(User.bot_id).subquery()
    query = (
        select(Bot, TenantSubscriptionPlan.name, TenantSubscription.status, TenantSubscription.end_date, func.coalesce(users.c.n, 0))
        .outerjoin(TenantSubscription, TenantSubscription.bot_id == Bot.id)
        .outerjoin(TenantSubscriptionPlan, TenantSubscriptionPlan.id == TenantSubscription.plan_tier_id)
        .outerjoin(users, users.c.bot_id == Bot.id)
        .where(Bot.is_master.is_(False))
        .order_by(Bot.id)
    )
    if status:
        query = query.where(Bot.status == status.strip().lower())
    if plan:
        query = query.where(func.lower(TenantSubscriptionPlan.name) == plan.strip().lower())
    return [TenantRow(bot, plan_name, sub_status, end, count) for bot, plan_name, sub_status, end, count in (await session.execute(query)).all()]


async def get_tenant(session: AsyncSession, bot_id: int, *, for_update: bool = False) -> Bot:
    """The tenant bot with this id, or NotFound."""
    query = select(Bot).where(Bot.id == bot_id, Bot.is_master.is_(False))
    bot = await session.scalar(query.with_for_update() if for_update else query)
    if bot is None:
        raise NotFound(f"no tenant bot with id {bot_id}")
    return bot


async def _subscription(session: AsyncSession, bot_id: int, *, for_update: bool = False) -> TenantSubscription | None:
    query = select(TenantSubscription).where(TenantSubscription.bot_id == bot_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def tenant_details(session: AsyncSession, *, bot_id: int) -> dict[str, Any]:
    """Everything `tenant show` prints: bot, subscription, admins, tokens, config and flag counts, payments."""
    bot = await get_tenant(session, bot_id)
    subscription = await _subscription(session, bot_id)
    plan = await session.get(TenantSubscriptionPlan, subscription.plan_tier_id) if subscription else None
    config_count = await session.scalar(select(func.count()).select_from(BotConfiguration).where(BotConfiguration.bot_id == bot_id))
    flags_on = await session.scalar(
        select(func.count()).select_from(BotFeatureFlag).where(BotFeatureFlag.bot_id == bot_id, BotFeatureFlag.enabled.is_(True))
    )
    users = await session.scalar(select(func.count()).select_from(User).where(User.bot_id == bot_id))
    payments = (
        await session.scalars(select(PlatformPayment).where(PlatformPayment.bot_id == bot_id).order_by(PlatformPayment.id.desc()).limit(10))
    ).all()
    return {
        **tenant_as_dict(bot, subscription, plan),
        "auto_renewal": subscription.auto_renewal if subscription else None,
        "created_at": bot.created_at.isoformat() if bot.created_at else None,
        "admins": [admin_as_dict(a) for a in await list_admins(session, bot_id=bot_id)],
        "api_tokens": [token_as_dict(t) for t in await list_api_tokens(session, bot_id=bot_id)],
        "config_keys": config_count,
        "features_enabled": flags_on,
        "users": users,
        "payments": [payment_as_dict(p) for p in payments],
    }


# ----- lifecycle ----------------------------------------------------------------------------


async def suspend_tenant(session: AsyncSession, *, bot_id: int, actor: str) -> Bot:
    """Stop an active tenant bot (its subscription and flags stay as they are)."""
    bot = await get_tenant(session, bot_id, for_update=True)
    if bot.status != "active":
        raise Conflict(f"{bot.name!r} is {bot.status}: only an active tenant can be suspended")
    await _set_status(session, bot, "suspended", actor)
    return bot


async def resume_tenant(session: AsyncSession, *, bot_id: int, actor: str, now: datetime | None = None) -> Bot:
    """Bring a suspended or cancelled tenant back, if its paid period has not run out."""
    now = now or utcnow()
    bot = await get_tenant(session, bot_id, for_update=True)
    if bot.status not in ("suspended", "cancelled"):
        raise Conflict(f"{bot.name!r} is {bot.status}: only a suspended or cancelled tenant can be resumed")
    subscription = await _subscription(session, bot_id, for_update=True)
    if subscription is None or subscription.status == "expired" or (subscription.end_date and subscription.end_date <= now):
        ended = subscription.end_date.date().isoformat() if subscription and subscription.end_date else "?"
        raise Conflict(f"{bot.name!r}'s subscription ended on {ended}: record a payment first (tenantctl billing record-payment)")
    if subscription.status != "active":
        subscription.status, subscription.auto_renewal = "active", True
        await session.flush()
        await recompute_flags(session, bot_ids=[bot_id], now=now)
    await _set_status(session, bot, "active", actor)
    return bot


async def cancel_tenant(session: AsyncSession, *, bot_id: int, actor: str) -> Bot:
    """Cancel a tenant: the bot stops, its subscription is cancelled and every feature turns off."""
    bot = await get_tenant(session, bot_id, for_update=True)
    if bot.status == "cancelled":
        raise Conflict(f"{bot.name!r} is cancelled already")
    subscription = await _subscription(session, bot_id, for_update=True)
    if subscription is not None:
        subscription.status, subscription.auto_renewal = "cancelled", False
    await session.execute(
        update(PlatformPayment)
        .where(PlatformPayment.bot_id == bot_id, PlatformPayment.purpose == "renewal", PlatformPayment.status == "pending")
        .values(status="cancelled")
    )
    await _set_status(session, bot, "cancelled", actor)
    await recompute_flags(session, bot_ids=[bot_id])
    return bot


async def _set_status(session: AsyncSession, bot: Bot, status: str, actor: str) -> None:
    before = bot.status
    bot.status = status
    await session.flush()
    subscription = await _subscription(session, bot.id)
    after = {"status": status}
    if subscription is not None:
        after |= {"subscription": subscription.status, "auto_renewal": subscription.auto_renewal}
    await record(session, actor=actor, action=f"tenant.{status}", entity=f"bot:{bot.id}", bot_id=bot.id,
                 before={"status": before}, after=after)


# ----- admins -------------------------------------------------------------------------------


def admin_as_dict(admin: BotAdmin) -> dict[str, Any]:
    return {"telegram_user_id": admin.telegram_user_id, "role": admin.role, "since": admin.created_at.isoformat() if admin.created_at else None}


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


# ----- API tokens ---------------------------------------------------------------------------


def token_as_dict(token: ApiToken) -> dict[str, Any]:
    """An API token's public facts: prefix and times, never the hash."""
    return {
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat() if token.created_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


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


# ----- renewal payments ---------------------------------------------------------------------


def payment_as_dict(payment: PlatformPayment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "bot_id": payment.bot_id,
        "purpose": payment.purpose,
        "method": payment.method,
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "reference": payment.external_id,
        "due_at": payment.due_at.isoformat() if payment.due_at else None,
        "recorded_at": payment.reviewed_at.isoformat() if payment.reviewed_at else None,
    }


@dataclass
class PaymentResult:
    payment: PlatformPayment
    subscription: TenantSubscription
    extended: bool  # False: the payment was recorded before, nothing changed


async def record_payment(
    session: AsyncSession,
    *,
    bot_id: int,
    amount_kopeks: int,
    method: str,
    reference: str,
    actor: str,
    payment_id: int | None = None,
    now: datetime | None = None,
) -> PaymentResult:
    """Record a renewal payment, idempotent on (method, reference): extend by a month and restore features.

    It settles the pending renewal `payment_id` (an invoice that was paid), else the oldest pending one.

    The month counts from the later of the end date and now. An expired tenant becomes active
    again; a cancelled one gets the time but stays cancelled until `resume`.
    """
    now = now or utcnow()
    reference = (reference or "").strip()
    if not reference:
        raise Invalid("a payment needs a reference (the bank or receipt id)")
    if method not in PAYMENT_METHODS:
        raise Invalid(f"payment method {method!r} is not one of {', '.join(PAYMENT_METHODS)}")
    if amount_kopeks <= 0:
        raise Invalid("the amount must be more than zero")
    bot = await get_tenant(session, bot_id, for_update=True)
    subscription = await _subscription(session, bot_id, for_update=True)
    if subscription is None:
        raise NotFound(f"{bot.name!r} has no subscription")
    existing = await session.scalar(select(PlatformPayment).where(PlatformPayment.method == method, PlatformPayment.external_id == reference))
    if existing is not None:
        if existing.bot_id != bot_id:
            raise Conflict(f"payment {method}/{reference} was recorded for another bot (id {existing.bot_id})")
        return PaymentResult(existing, subscription, extended=False)

    pending = select(PlatformPayment).where(
        PlatformPayment.bot_id == bot_id, PlatformPayment.purpose == "renewal", PlatformPayment.status == "pending"
    )
    if payment_id is not None:
        pending = pending.where(PlatformPayment.id == payment_id)
    payment = await session.scalar(pending.order_by(PlatformPayment.due_at).limit(1).with_for_update())
    if payment is None:
        payment = PlatformPayment(bot_id=bot_id, purpose="renewal", due_at=subscription.end_date)
        session.add(payment)
    payment.method, payment.external_id, payment.status = method, reference, "succeeded"
    payment.amount, payment.currency, payment.reviewed_at = amount_kopeks, "RUB", now
    payment.receipt = {"recorded_by": actor}
    before = {"status": subscription.status, "end_date": subscription.end_date.isoformat() if subscription.end_date else None, "bot_status": bot.status}
    base = max(subscription.end_date, now) if subscription.end_date else now
    subscription.end_date = add_months(base)
    if subscription.status == "expired":
        subscription.status = "active"
        if bot.status == "expired":
            bot.status = "active"
    await session.flush()
    await recompute_flags(session, bot_ids=[bot_id], now=now)
    await record(
        session, actor=actor, action="payment.record", entity=f"bot:{bot_id}/payment:{method}:{reference}", bot_id=bot_id,
        before=before,
        after={"status": subscription.status, "end_date": subscription.end_date.isoformat(), "bot_status": bot.status, "amount": amount_kopeks},
    )
    return PaymentResult(payment, subscription, extended=True)
