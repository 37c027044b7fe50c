"""The master admin panel's buttons and screens: CallbackData factories, and one function per screen.

Screens only read (through the services and `stats.platform`) and render; the changes are made by
the handlers in `admin_panel`. Every callback data fits 64 bytes: ids are ints (a feature by the
CRC-32 of its key), choices are enums or short strings. Data naming a row that is gone raises
`Expired`, which the user sees as "this button has expired".
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.models import AuditEntry
from tenantctl.billing.models import REFUND_PENDING, PlatformPayment, PlatformRefund
from tenantctl.billing.refunds import list_refunds
from tenantctl.bot import screens
from tenantctl.bot.keyboards import MyBot, ReviewAction, ReviewButton, Row, keyboard
from tenantctl.bot.locales import t
from tenantctl.bot.screens import PAGE, Expired, Stage, View, page_of, paged, pager
from tenantctl.core.money import format_money
from tenantctl.flags.models import Feature, TenantFeatureOverride
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.plans.effective import explain_bot_flags
from tenantctl.plans.models import PlanFeatureGrant, TenantSubscriptionPlan
from tenantctl.plans.preview import FlagChange, plan_tenant_counts
from tenantctl.plans.service import list_plans
from tenantctl.stats.platform import (
    audit_page,
    feature_holders,
    feature_usage,
    find_tenants,
    mrr_series,
    platform_stats,
    receipts_to_review,
    tenant_summary,
)
from tenantctl.tenants.admins import list_admins
from tenantctl.tenants.models import Bot
from tenantctl.tenants.tokens import list_api_tokens

GB = 1024**3


# ----- callback data -------------------------------------------------------------------------


class Screen(StrEnum):
    HOME = "h"
    TENANT = "t"  # a: bot id
    TENANT_FEATURES = "tf"  # a: bot id, b: page
    TENANT_FEATURE = "tx"  # a: bot id, b: feature id
    TENANT_PLAN = "tp"  # a: bot id (choose the new plan)
    ADMINS = "ad"  # a: bot id
    TOKENS = "tk"  # a: bot id, b: page
    PLANS = "p"
    PLAN = "pl"  # a: plan id, b: page of the grant matrix
    PLAN_FEATURE = "px"  # a: plan id, b: feature id
    FEATURES = "f"  # a: page
    FEATURE = "fx"  # a: feature id, b: page of its tenants
    PAYMENTS = "pq"  # a: page of the receipts waiting for review
    RECEIPT = "rc"  # a: payment id
    REFUNDS = "rf"  # a: page
    STATS = "st"  # a: the period in days (7, 30 or 90)
    MRR_CHART = "mc"  # the last 90 days' MRR, as a picture
    AUDIT = "au"  # a: bot id (0: every change), b: page
    FEATURE_AUDIT = "fa"  # a: feature id, b: page


class Go(CallbackData, prefix="ap"):
    """Open a screen."""

    to: Screen
    a: int = 0
    b: int = 0


class StatusFilter(StrEnum):
    ALL = "*"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Search(StrEnum):
    NONE = "-"
    LAST = "s"  # the admin's last search (kept in the conversation's state)


class TenantList(CallbackData, prefix="al"):
    """The tenants list, filtered by bot status, plan (0: any) and the last search."""

    status: StatusFilter = StatusFilter.ALL
    plan: int = 0
    page: int = 0
    search: Search = Search.NONE


class Do(StrEnum):
    SUSPEND = "su"
    RESUME = "re"
    CANCEL = "ca"
    SET_PLAN = "sp"  # a: bot id, b: plan id
    EXTEND = "ex"  # a: bot id
    ISSUE_TOKEN = "it"  # a: bot id
    REVOKE_TOKEN = "rt"  # a: bot id, b: token id
    OVERRIDE_CONFIG = "oc"  # a: bot id, b: feature id
    SEARCH = "se"
    PLAN_NEW = "pn"
    PLAN_PRICE = "pp"  # a: plan id
    PLAN_FEE = "pf"  # a: plan id
    PLAN_SHARE = "ps"  # a: plan id (the platform's revenue share)
    PLAN_EDIT = "pe"  # a: plan id (apply the typed edit)
    ARCHIVE = "ar"  # a: plan id
    GRANT_CONFIG = "gc"  # a: plan id, b: feature id
    RETRY_REFUND = "rr"  # a: refund id


class Act(CallbackData, prefix="aa"):
    """An action: at stage ASK it asks (a confirmation or an input), at DO it is made."""

    do: Do
    a: int = 0
    b: int = 0
    stage: Stage = Stage.ASK


class OverrideSet(CallbackData, prefix="ao"):
    """A tenant's override of one feature: `on`, `off`, `inh` (inherit, clears it) or `v<i>` (the i-th mode value)."""

    bot_id: int
    fid: int
    choice: str = Field(max_length=4)


class Until(StrEnum):
    DAY = "1"
    WEEK = "7"
    MONTH = "30"
    NEVER = "0"
    TYPED = "d"


class OverrideUntil(CallbackData, prefix="ae"):
    """The expiry of the override being set."""

    bot_id: int
    fid: int
    until: Until


class GrantSet(CallbackData, prefix="ag"):
    """A plan's grant of one feature: `on`, `off`, `rm` (no grant: the default applies) or `v<i>`."""

    plan_id: int
    fid: int
    choice: str = Field(max_length=4)
    stage: Stage = Stage.ASK


def fid(key: str) -> int:
    """A feature's id in callback data: the CRC-32 of its key."""
    return zlib.crc32(key.encode())


async def feature_by_fid(session: AsyncSession, feature_id: int) -> Feature:
    """The catalogue feature whose key has this CRC-32 (Expired if none)."""
    for feature in (await session.scalars(select(Feature))).all():
        if fid(feature.key) == feature_id:
            return feature
    raise Expired(feature_id)


def choice_value(feature: Feature, choice: str) -> tuple[bool | None, str | None]:
    """(enabled, value) a choice button means: on, off, inherit/remove (None, None), or a mode value."""
    if choice == "on":
        return True, None
    if choice == "off":
        return False, None
    if choice in ("inh", "rm"):
        return None, None
    index = choice.removeprefix("v")
    if choice.startswith("v") and index.isdigit() and int(index) < len(feature.allowed_values):
        return None, feature.allowed_values[int(index)]
    raise Expired(choice)


# ----- rendering helpers ---------------------------------------------------------------------


def nav(lang: str, back: CallbackData) -> Row:
    """Back and Home (the panel's), at the bottom of every screen."""
    return screens.nav(lang, back, Go(to=Screen.HOME))


def shown(value: Any) -> str:
    """A layer's value for people: on, off, a mode value, or · (says nothing)."""
    return "·" if value is None else "on" if value is True else "off" if value is False else str(value)


def day(when: datetime | None) -> str:
    return when.date().isoformat() if when else "—"


def bot_label(bot: Bot) -> str:
    return f"{bot.name} (@{bot.username})" if bot.username else bot.name


async def tenant_or_expired(session: AsyncSession, bot_id: int) -> Bot:
    """The tenant bot the button names, else Expired."""
    bot = await session.get(Bot, bot_id)
    if bot is None or bot.is_master:
        raise Expired(bot_id)
    return bot


async def plan_or_expired(session: AsyncSession, plan_id: int) -> TenantSubscriptionPlan:
    """The plan the button names, else Expired."""
    plan = await session.get(TenantSubscriptionPlan, plan_id)
    if plan is None:
        raise Expired(plan_id)
    return plan


# ----- screens -------------------------------------------------------------------------------


async def home(session: AsyncSession, lang: str) -> View:
    """The panel's first screen: its sections."""
    return View(t(lang, "ap_home"), keyboard(
        [(t(lang, "ap_btn_tenants"), TenantList()), (t(lang, "ap_btn_plans"), Go(to=Screen.PLANS))],
        [(t(lang, "ap_btn_features"), Go(to=Screen.FEATURES)), (t(lang, "ap_btn_payments"), Go(to=Screen.PAYMENTS))],
        [(t(lang, "ap_btn_stats"), Go(to=Screen.STATS, a=30)), (t(lang, "ap_btn_audit"), Go(to=Screen.AUDIT))],
    ))


async def tenants(session: AsyncSession, lang: str, data: TenantList, *, search: str | None = None) -> View:
    """A page of tenants, with the status and plan filters and a search."""
    status = None if data.status == StatusFilter.ALL else data.status.value
    rows, total, page, count = await paged(
        lambda offset: find_tenants(session, status=status, plan_id=data.plan or None, search=search, offset=offset, limit=PAGE), data.page)
    plans = await list_plans(session)
    plan_name = next((p.display_name for p in plans if p.id == data.plan), t(lang, "ap_any"))
    lines = [t(lang, "ap_tenants_title", total=total, status=t(lang, "ap_any") if status is None else status, plan=plan_name)]
    if search:
        lines.append(t(lang, "ap_search_for", text=search))
    lines += [f"#{r.bot.id} {bot_label(r.bot)}: {r.bot.status}, {r.plan or '—'}, {day(r.end_date)}" for r in rows]
    if not rows:
        lines.append(t(lang, "ap_nothing"))
    statuses = list(StatusFilter)
    next_status = statuses[(statuses.index(data.status) + 1) % len(statuses)]
    plan_ids = [0] + [p.id for p in plans]
    next_plan = plan_ids[(plan_ids.index(data.plan) + 1) % len(plan_ids)] if data.plan in plan_ids else 0
    kept = Search.LAST if search else Search.NONE
    searching: Row = [(t(lang, "ap_btn_search"), Act(do=Do.SEARCH))]
    if search:
        searching.append((t(lang, "ap_btn_clear_search"), TenantList(status=data.status, plan=data.plan)))
    return View("\n".join(lines), keyboard(
        *[[(f"#{r.bot.id} {r.bot.name}", Go(to=Screen.TENANT, a=r.bot.id))] for r in rows],
        pager(page, count, lambda p: TenantList(status=data.status, plan=data.plan, page=p, search=kept)),
        [(t(lang, "ap_btn_status_filter"), TenantList(status=next_status, plan=data.plan, search=kept)),
         (t(lang, "ap_btn_plan_filter"), TenantList(status=data.status, plan=next_plan, search=kept))],
        searching,
        nav(lang, Go(to=Screen.HOME)),
    ))


async def tenant(session: AsyncSession, lang: str, bot_id: int) -> View:
    """A tenant's page: status, plan, end date, users, 30-day income and traffic, and its actions."""
    await tenant_or_expired(session, bot_id)
    summary = await tenant_summary(session, bot_id=bot_id)
    bot = summary.bot
    text = t(lang, "ap_tenant", id=bot.id, name=bot_label(bot), status=bot.status,
             plan=summary.plan.display_name if summary.plan else "—",
             subscription=summary.subscription.status if summary.subscription else "—",
             end=day(summary.subscription.end_date if summary.subscription else None), users=summary.users,
             income=format_money(summary.income_30d_kopeks), traffic=f"{summary.traffic_30d_bytes / GB:.1f} GB")
    lifecycle: Row = []
    if bot.status == "active":
        lifecycle.append((t(lang, "ap_btn_suspend"), Act(do=Do.SUSPEND, a=bot.id)))
    if bot.status in ("suspended", "cancelled"):
        lifecycle.append((t(lang, "ap_btn_resume"), Act(do=Do.RESUME, a=bot.id)))
    if bot.status != "cancelled":
        lifecycle.append((t(lang, "ap_btn_cancel_tenant"), Act(do=Do.CANCEL, a=bot.id)))
    return View(text, keyboard(
        [(t(lang, "ap_btn_tenant_features"), Go(to=Screen.TENANT_FEATURES, a=bot.id)),
         (t(lang, "ap_btn_change_plan"), Go(to=Screen.TENANT_PLAN, a=bot.id))],
        lifecycle,
        [(t(lang, "ap_btn_extend"), Act(do=Do.EXTEND, a=bot.id)), (t(lang, "ap_btn_tokens"), Go(to=Screen.TOKENS, a=bot.id)),
         (t(lang, "ap_btn_admins"), Go(to=Screen.ADMINS, a=bot.id))],
        [(t(lang, "ap_btn_audit"), Go(to=Screen.AUDIT, a=bot.id))],
        nav(lang, TenantList()),
    ))


def confirm(lang: str, text: str, yes: CallbackData, back: CallbackData) -> View:
    """A question with Confirm, Back and Home."""
    return View(text, keyboard([(t(lang, "btn_confirm"), yes)], nav(lang, back)))


async def lifecycle_question(session: AsyncSession, lang: str, do: Do, bot_id: int) -> View:
    """Suspend, resume or cancel: are you sure?"""
    bot = await tenant_or_expired(session, bot_id)
    return confirm(lang, t(lang, f"ap_ask_{do.name.lower()}", name=bot_label(bot)),
                   Act(do=do, a=bot_id, stage=Stage.DO), Go(to=Screen.TENANT, a=bot_id))


async def tenant_plans(session: AsyncSession, lang: str, bot_id: int) -> View:
    """The plans a tenant can move to."""
    bot = await tenant_or_expired(session, bot_id)
    plans = await list_plans(session, include_archived=False)
    return View(t(lang, "ap_choose_plan", name=bot_label(bot)), keyboard(
        *[[(f"{p.display_name} ({format_money(p.monthly_price_kopeks)})", Act(do=Do.SET_PLAN, a=bot_id, b=p.id))] for p in plans],
        nav(lang, Go(to=Screen.TENANT, a=bot_id)),
    ))


def plan_change_question(lang: str, bot: Bot, plan: TenantSubscriptionPlan, changes: list[FlagChange]) -> View:
    """The preview of a plan change: the features it turns on or off, then Confirm."""
    lines = [t(lang, "ap_plan_preview", name=bot_label(bot), plan=plan.display_name)]
    lines += [f"• {c.key}: {shown(c.before)} → {shown(c.after)}" for c in changes] or [t(lang, "ap_no_feature_changes")]
    return confirm(lang, "\n".join(lines), Act(do=Do.SET_PLAN, a=bot.id, b=plan.id, stage=Stage.DO), Go(to=Screen.TENANT_PLAN, a=bot.id))


async def tenant_features(session: AsyncSession, lang: str, bot_id: int, page: int) -> View:
    """A tenant's features, a page at a time: plan value, override, effective value and source."""
    bot = await tenant_or_expired(session, bot_id)
    rows = await explain_bot_flags(session, bot_id=bot_id)
    chunk, page, count = page_of(rows, page)
    lines, category = [t(lang, "ap_tenant_features", name=bot_label(bot))], None
    for row in chunk:
        if row["category"] != category:
            category = row["category"]
            lines.append(f"\n[{category}]")
        lines.append(t(lang, "ap_feature_line", code=row["key"], plan=shown(row["plan_value"]), override=shown(row["override_value"]),
                       value=shown(row["value"]), source=row["source"]))
    return View("\n".join(lines), keyboard(
        *[[(row["key"], Go(to=Screen.TENANT_FEATURE, a=bot_id, b=fid(row["key"])))] for row in chunk],
        pager(page, count, lambda p: Go(to=Screen.TENANT_FEATURES, a=bot_id, b=p)),
        nav(lang, Go(to=Screen.TENANT, a=bot_id)),
    ))


def _value_buttons(feature: Feature, make: Callable[[str], CallbackData]) -> list[Row]:
    """A button per allowed value of a mode feature, two a row."""
    buttons = [(value, make(f"v{i}")) for i, value in enumerate(feature.allowed_values[:20])]
    return [buttons[i:i + 2] for i in range(0, len(buttons), 2)]


async def tenant_feature(session: AsyncSession, lang: str, bot_id: int, feature_id: int) -> View:
    """One feature of a tenant: every layer, the override's reason and expiry, and the override buttons."""
    bot = await tenant_or_expired(session, bot_id)
    feature = await feature_by_fid(session, feature_id)
    row = next(r for r in await explain_bot_flags(session, bot_id=bot_id) if r["key"] == feature.key)
    override = await session.get(TenantFeatureOverride, (bot_id, feature.key))
    lines = [t(lang, "ap_tenant_feature", name=bot_label(bot), code=feature.key, default=shown(row["default_value"]),
               plan=shown(row["plan_value"]), override=shown(row["override_value"]), value=shown(row["value"]),
               source=row["source"], config=row["config"] or "{}")]
    if override is not None:
        lines.append(t(lang, "ap_override_info", reason=override.reason, author=override.created_by,
                       until=override.expires_at.strftime("%Y-%m-%d %H:%M UTC") if override.expires_at else t(lang, "ap_never")))
    back = Go(to=Screen.TENANT_FEATURES, a=bot_id)
    if feature.master_only:
        lines.append(t(lang, "ap_master_only"))
        return View("\n".join(lines), keyboard(nav(lang, back)))

    def choose(choice: str) -> OverrideSet:
        return OverrideSet(bot_id=bot_id, fid=feature_id, choice=choice)

    buttons = [[(t(lang, "ap_btn_on"), choose("on")), (t(lang, "ap_btn_off"), choose("off")), (t(lang, "ap_btn_inherit"), choose("inh"))]]
    if feature.kind == "mode":
        buttons += _value_buttons(feature, choose)
    if feature.config_keys:
        buttons.append([(t(lang, "ap_btn_config"), Act(do=Do.OVERRIDE_CONFIG, a=bot_id, b=feature_id))])
    return View("\n".join(lines), keyboard(*buttons, nav(lang, back)))


def expiry_question(lang: str, bot_id: int, feature_id: int) -> View:
    """When the override being set should end."""
    def until(choice: Until) -> OverrideUntil:
        return OverrideUntil(bot_id=bot_id, fid=feature_id, until=choice)

    return View(t(lang, "ap_ask_expiry"), keyboard(
        [(t(lang, "ap_btn_1d"), until(Until.DAY)), (t(lang, "ap_btn_7d"), until(Until.WEEK)), (t(lang, "ap_btn_30d"), until(Until.MONTH))],
        [(t(lang, "ap_btn_never"), until(Until.NEVER)), (t(lang, "ap_btn_typed_date"), until(Until.TYPED))],
        nav(lang, Go(to=Screen.TENANT_FEATURE, a=bot_id, b=feature_id)),
    ))


def prompt(lang: str, text: str, back: CallbackData) -> View:
    """A request for typed input; Back and Home (any screen opened) stop waiting for it."""
    return View(text, keyboard(nav(lang, back)))


async def tokens(session: AsyncSession, lang: str, bot_id: int, page: int = 0) -> View:
    """A tenant's API tokens, newest first, a page at a time, with Issue and a Revoke per active one."""
    bot = await tenant_or_expired(session, bot_id)
    rows = list(reversed(await list_api_tokens(session, bot_id=bot_id)))
    chunk, page, count = page_of(rows, page)
    lines = [t(lang, "ap_tokens", name=bot_label(bot))]
    lines += [f"{r.prefix}: {day(r.created_at)}, " + (t(lang, "ap_revoked", date=day(r.revoked_at)) if r.revoked_at else t(lang, "ap_active"))
              for r in chunk] or [t(lang, "ap_nothing")]
    return View("\n".join(lines), keyboard(
        [(t(lang, "ap_btn_issue_token"), Act(do=Do.ISSUE_TOKEN, a=bot_id))],
        *[[(t(lang, "ap_btn_revoke", prefix=r.prefix), Act(do=Do.REVOKE_TOKEN, a=bot_id, b=r.id))] for r in chunk if not r.revoked_at],
        pager(page, count, lambda p: Go(to=Screen.TOKENS, a=bot_id, b=p)),
        nav(lang, Go(to=Screen.TENANT, a=bot_id)),
    ))


async def admins(session: AsyncSession, lang: str, bot_id: int) -> View:
    """A tenant's admins, owner first."""
    bot = await tenant_or_expired(session, bot_id)
    rows = await list_admins(session, bot_id=bot_id)
    lines = [t(lang, "ap_admins", name=bot_label(bot))] + [f"{a.telegram_user_id} ({a.role})" for a in rows]
    return View("\n".join(lines), keyboard(nav(lang, Go(to=Screen.TENANT, a=bot_id))))


async def plans(session: AsyncSession, lang: str) -> View:
    """Every plan, with its prices and tenant count."""
    rows = await list_plans(session)
    counts = await plan_tenant_counts(session)
    lines = [t(lang, "ap_plans")]
    for p in rows:
        lines.append(t(lang, "ap_plan_line", name=p.display_name, price=format_money(p.monthly_price_kopeks),
                       fee=format_money(p.activation_fee_kopeks), tenants=counts.get(p.id, 0))
                     + (" " + t(lang, "ap_archived") if not p.is_active else ""))
    return View("\n".join(lines), keyboard(
        *[[(p.display_name, Go(to=Screen.PLAN, a=p.id))] for p in rows],
        [(t(lang, "ap_btn_new_plan"), Act(do=Do.PLAN_NEW))],
        nav(lang, Go(to=Screen.HOME)),
    ))


def grant_cell(plan: TenantSubscriptionPlan, feature: Feature, grant: PlanFeatureGrant | None) -> str:
    """What a plan says about a feature, for people: its grant, `all` (an all-features plan), or · (the default applies)."""
    if feature.master_only:
        return "—"
    if grant is not None:
        return shown(grant.value if grant.enabled and grant.value else grant.enabled) + (f" {grant.config_override}" if grant.config_override else "")
    return "all" if plan.grants_all_features else "·"


async def plan(session: AsyncSession, lang: str, plan_id: int, page: int) -> View:
    """A plan: its fields, its grant matrix by category (a page at a time), and its actions."""
    row = await plan_or_expired(session, plan_id)
    features = list((await session.scalars(select(Feature).order_by(Feature.category, Feature.key))).all())
    grants = {g.feature_key: g for g in (await session.scalars(select(PlanFeatureGrant).where(PlanFeatureGrant.plan_tier_id == plan_id))).all()}
    tenants_count = (await plan_tenant_counts(session)).get(plan_id, 0)
    chunk, page, count = page_of(features, page)
    lines = [t(lang, "ap_plan", name=row.display_name, code=row.name, price=format_money(row.monthly_price_kopeks),
               fee=format_money(row.activation_fee_kopeks), share=row.revenue_share_percent, tenants=tenants_count,
               all=t(lang, "ap_yes") if row.grants_all_features else t(lang, "ap_no"))
             + (" " + t(lang, "ap_archived") if not row.is_active else "")]
    category = None
    for feature in chunk:
        if feature.category != category:
            category = feature.category
            lines.append(f"\n[{category}]")
        lines.append(f"{feature.key}: {grant_cell(row, feature, grants.get(feature.key))}")
    edits: Row = [(t(lang, "ap_btn_price"), Act(do=Do.PLAN_PRICE, a=plan_id)), (t(lang, "ap_btn_fee"), Act(do=Do.PLAN_FEE, a=plan_id)),
                  (t(lang, "ap_btn_share"), Act(do=Do.PLAN_SHARE, a=plan_id))]
    if row.is_active:
        edits.append((t(lang, "ap_btn_archive"), Act(do=Do.ARCHIVE, a=plan_id)))
    return View("\n".join(lines), keyboard(
        *[[(f.key, Go(to=Screen.PLAN_FEATURE, a=plan_id, b=fid(f.key)))] for f in chunk if not f.master_only],
        pager(page, count, lambda p: Go(to=Screen.PLAN, a=plan_id, b=p)),
        edits,
        nav(lang, Go(to=Screen.PLANS)),
    ))


async def plan_feature(session: AsyncSession, lang: str, plan_id: int, feature_id: int) -> View:
    """One cell of a plan's grant matrix, with the buttons that change it."""
    row = await plan_or_expired(session, plan_id)
    feature = await feature_by_fid(session, feature_id)
    grant = await session.get(PlanFeatureGrant, (plan_id, feature.key))
    text = t(lang, "ap_plan_feature", plan=row.display_name, code=feature.key, cell=grant_cell(row, feature, grant),
             default=shown(feature.default_value if feature.kind == "mode" else feature.default_enabled),
             template=feature.default_config or "{}")
    back = Go(to=Screen.PLAN, a=plan_id)
    if feature.master_only:
        return View(text + "\n" + t(lang, "ap_master_only"), keyboard(nav(lang, back)))

    def choose(choice: str) -> GrantSet:
        return GrantSet(plan_id=plan_id, fid=feature_id, choice=choice)

    buttons = [[(t(lang, "ap_btn_on"), choose("on")), (t(lang, "ap_btn_off"), choose("off")), (t(lang, "ap_btn_remove_grant"), choose("rm"))]]
    if feature.kind == "mode":
        buttons += _value_buttons(feature, choose)
    if feature.config_keys:
        buttons.append([(t(lang, "ap_btn_config"), Act(do=Do.GRANT_CONFIG, a=plan_id, b=feature_id))])
    return View(text, keyboard(*buttons, nav(lang, back)))


async def features(session: AsyncSession, lang: str, page: int) -> View:
    """The catalogue by category, a page at a time, each feature with the number of tenants where it is on."""
    rows = list((await session.scalars(select(Feature).order_by(Feature.category, Feature.key))).all())
    usage = await feature_usage(session)
    chunk, page, count = page_of(rows, page)
    lines, category = [t(lang, "ap_features", total=len(rows))], None
    for feature in chunk:
        if feature.category != category:
            category = feature.category
            lines.append(f"\n[{category}]")
        lines.append(t(lang, "ap_feature_usage", code=feature.key, count=usage.get(feature.key, 0)))
    if not rows:
        lines.append(t(lang, "ap_nothing"))
    return View("\n".join(lines), keyboard(
        *[[(f.key, Go(to=Screen.FEATURE, a=fid(f.key)))] for f in chunk],
        pager(page, count, lambda p: Go(to=Screen.FEATURES, a=p)),
        nav(lang, Go(to=Screen.HOME)),
    ))


async def feature(session: AsyncSession, lang: str, feature_id: int, page: int) -> View:
    """A feature: description, default, allowed values, config template, and which tenants have it, from which layer."""
    row = await feature_by_fid(session, feature_id)
    holders, total, page, count = await paged(lambda offset: feature_holders(session, feature_key=row.key, offset=offset, limit=PAGE), page)
    lines = [t(lang, "ap_feature", code=row.key, env=row.env_key, category=row.category, kind=row.kind,
               description=row.description or "—", default=shown(row.default_value if row.kind == "mode" else row.default_enabled),
               allowed=", ".join(row.allowed_values) or "—", template=row.default_config or "{}", total=total)]
    if row.master_only:
        lines.append(t(lang, "ap_master_only"))
    lines += [f"#{h.bot_id} {h.name}{f' (@{h.username})' if h.username else ''}: {h.value or 'on'} ({h.source})" for h in holders]
    return View("\n".join(lines), keyboard(
        *[[(f"#{h.bot_id} {h.name}", Go(to=Screen.TENANT_FEATURE, a=h.bot_id, b=feature_id))] for h in holders],
        pager(page, count, lambda p: Go(to=Screen.FEATURE, a=feature_id, b=p)),
        [(t(lang, "ap_btn_audit"), Go(to=Screen.FEATURE_AUDIT, a=feature_id))],
        nav(lang, Go(to=Screen.FEATURES)),
    ))


async def payments(session: AsyncSession, lang: str, page: int) -> View:
    """The card receipts waiting for review, a page at a time; the refunds and the master's own cards."""
    rows, total, page, count = await paged(lambda offset: receipts_to_review(session, offset=offset, limit=PAGE), page)
    master_id = await session.scalar(select(Bot.id).where(Bot.is_master.is_(True)))
    lines = [t(lang, "ap_payments", total=total)]
    lines += [f"#{p.id} {r.bot_name} (@{r.bot_username}), {format_money(p.amount_minor, p.currency)}, {day(p.updated_at)}" for p, r in rows]
    return View("\n".join(lines), keyboard(
        *[[(f"#{p.id} {r.bot_name}", Go(to=Screen.RECEIPT, a=p.id))] for p, r in rows],
        pager(page, count, lambda p: Go(to=Screen.PAYMENTS, a=p)),
        [(t(lang, "ap_btn_refunds"), Go(to=Screen.REFUNDS)), (t(lang, "ap_btn_master_cards"), MyBot(bot_id=master_id))],
        nav(lang, Go(to=Screen.HOME)),
    ))


async def receipt(session: AsyncSession, lang: str, payment_id: int) -> View:
    """One receipt, as its photo (or text), with Approve and Reject (the review handlers of `master_admin`)."""
    payment = await session.get(PlatformPayment, payment_id)
    registration = await session.get(TenantRegistration, payment.registration_id) if payment and payment.registration_id else None
    if registration is None or payment.status != "awaiting_review":
        raise Expired(payment_id)
    plan = await session.get(TenantSubscriptionPlan, registration.plan_tier_id) if registration.plan_tier_id else None
    receipt_data = payment.receipt or {}
    photo = receipt_data.get("photo_file_id")
    text = t(lang, "admin_receipt", payment=payment.id, name=registration.bot_name, username=registration.bot_username,
             user=registration.telegram_user_id, plan=plan.display_name if plan else "-",
             amount=format_money(payment.amount_minor, payment.currency),
             receipt=t(lang, "receipt_photo") if photo else receipt_data.get("text", "-"))
    return View(text, keyboard(
        [(t(lang, "btn_approve"), ReviewButton(action=ReviewAction.APPROVE, payment_id=payment.id)),
         (t(lang, "btn_reject"), ReviewButton(action=ReviewAction.REJECT, payment_id=payment.id))],
        nav(lang, Go(to=Screen.PAYMENTS)),
    ), photo=photo)


PERIODS = (7, 30, 90)  # the statistics periods, in days


def _money_by_currency(amounts: dict[str, int]) -> str:
    return ", ".join(format_money(amount, currency) for currency, amount in sorted(amounts.items())) or format_money(0)


async def stats(session: AsyncSession, lang: str, days: int) -> View:
    """Platform statistics over a period: tenants by status and plan, MRR, income, churn, expiring, the top tenants."""
    if days not in PERIODS:
        raise Expired(days)
    figures = await platform_stats(session, days=days)
    lines = [t(lang, "ap_stats", days=days, statuses=", ".join(f"{k} {v}" for k, v in sorted(figures.by_status.items())) or "—",
               plans=", ".join(f"{k} {v}" for k, v in sorted(figures.by_plan.items())) or "—", mrr=format_money(figures.mrr_kopeks),
               activations=_money_by_currency(figures.activation_income), renewals=_money_by_currency(figures.renewal_income),
               cancelled=figures.cancelled, expired=figures.expired)]
    lines.append(t(lang, "ap_stats_expiring"))
    lines += [f"#{bot.id} {bot.name}: {day(end)}" for bot, end in figures.expiring] or ["—"]
    lines.append(t(lang, "ap_stats_top_users"))
    lines += [f"#{bot.id} {bot.name}: {n}" for bot, n in figures.top_by_users] or ["—"]
    lines.append(t(lang, "ap_stats_top_income"))
    lines += [f"#{bot.id} {bot.name}: {format_money(n)}" for bot, n in figures.top_by_income] or ["—"]
    return View("\n".join(lines), keyboard(
        [(f"· {p} ·" if p == days else t(lang, "ap_btn_days", days=p), Go(to=Screen.STATS, a=p)) for p in PERIODS],
        [(t(lang, "ap_btn_mrr_chart"), Go(to=Screen.MRR_CHART))],
        nav(lang, Go(to=Screen.HOME)),
    ))


async def mrr_chart(session: AsyncSession, lang: str) -> View:
    """The platform's MRR over the last 90 days, as a picture."""
    from tenantctl.stats.charts import mrr_chart_png

    series = await mrr_series(session, days=90)
    return View(t(lang, "ap_mrr_chart", mrr=format_money(series[-1][1])), keyboard(nav(lang, Go(to=Screen.STATS, a=30))),
                photo=BufferedInputFile(mrr_chart_png(series), filename="mrr.png"))


def _change(value: object) -> str:
    return "—" if value is None else json.dumps(value, ensure_ascii=False, default=str)[:160]


def audit_line(entry: AuditEntry) -> str:
    """One audit entry: when, who, what, and what changed from and to."""
    return f"{entry.at:%Y-%m-%d %H:%M} {entry.actor} {entry.action} {entry.entity}: {_change(entry.before)} → {_change(entry.after)}"


async def audit(session: AsyncSession, lang: str, bot_id: int, page: int) -> View:
    """Recent changes, newest first: every change, or one tenant's (bot_id)."""
    if bot_id:
        title, back = t(lang, "ap_audit_of", name=bot_label(await tenant_or_expired(session, bot_id))), Go(to=Screen.TENANT, a=bot_id)
    else:
        title, back = t(lang, "ap_audit"), Go(to=Screen.HOME)
    entries, _total, page, count = await paged(lambda offset: audit_page(session, bot_id=bot_id or None, offset=offset, limit=PAGE), page)
    return View("\n".join([title] + ([audit_line(e) for e in entries] or [t(lang, "ap_nothing")])), keyboard(
        pager(page, count, lambda p: Go(to=Screen.AUDIT, a=bot_id, b=p)), nav(lang, back),
    ))


async def feature_audit(session: AsyncSession, lang: str, feature_id: int, page: int) -> View:
    """Recent changes of one feature: its grants, overrides and their expiry, newest first."""
    row = await feature_by_fid(session, feature_id)
    entries, _total, page, count = await paged(lambda offset: audit_page(session, feature_key=row.key, offset=offset, limit=PAGE), page)
    lines = [t(lang, "ap_audit_of", name=row.key)] + ([audit_line(e) for e in entries] or [t(lang, "ap_nothing")])
    return View("\n".join(lines), keyboard(
        pager(page, count, lambda p: Go(to=Screen.FEATURE_AUDIT, a=feature_id, b=p)), nav(lang, Go(to=Screen.FEATURE, a=feature_id)),
    ))


def retryable(refund: PlatformRefund) -> bool:
    """A Stars refund still being retried (a card refund is paid back by hand; a failed one waits for a person)."""
    return refund.status == REFUND_PENDING and refund.next_attempt_at is not None


def refund_line(lang: str, refund: PlatformRefund) -> str:
    """A refund and its state: attempts, last error, next attempt."""
    line = t(lang, "ap_refund_line", id=refund.id, amount=format_money(refund.amount_minor, refund.currency), user=refund.payer_telegram_id,
             status=refund.status, attempts=refund.attempts, reason=refund.reason)
    if refund.last_error:
        line += f"; {refund.last_error}"
    if retryable(refund):
        line += "; " + t(lang, "ap_next_attempt", at=refund.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S UTC"))
    return line


async def refunds(session: AsyncSession, lang: str, page: int) -> View:
    """Refunds, newest first, with their state and a Retry for the Stars refunds still pending."""
    rows = await list_refunds(session)
    chunk, page, count = page_of(rows, page)
    lines = [t(lang, "ap_refunds", total=len(rows))] + ([refund_line(lang, r) for r in chunk] or [t(lang, "ap_nothing")])
    return View("\n".join(lines), keyboard(
        *[[(t(lang, "ap_btn_retry", id=r.id), Act(do=Do.RETRY_REFUND, a=r.id))] for r in chunk if retryable(r)],
        pager(page, count, lambda p: Go(to=Screen.REFUNDS, a=p)),
        nav(lang, Go(to=Screen.PAYMENTS)),
    ))
