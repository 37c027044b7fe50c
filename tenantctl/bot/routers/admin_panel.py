"""The master admin panel: /admin in the master bot, for MASTER_ADMIN_IDS only.

Access is declared once on the router (`PanelAccess`, which asks `tenants.permissions.require`):
anyone else's /admin or button falls through to what an unknown command or button gets. Each
change asks `require` again for its own permission, then makes one call of the service the CLI
uses, audited as `tg:<id>`; flag changes drop the affected bots' cached flags after the commit.

Typed input (a reason, a date, months, a plan's fields) waits in a small durable state: the
`panel` entry of the user's FSM data (the bot's FSM storage, written in the update's
transaction). While it is set, this router takes the user's plain text before registration does;
/admin or any button that does not answer it stops the wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from aiogram import Bot, F
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message, User
from sqlalchemy import select

from tenantctl.billing import lifecycle
from tenantctl.billing.models import MANUAL, PlatformRefund
from tenantctl.billing.refunds import run_refunds
from tenantctl.billing.service import record_payment
from tenantctl.bot.locales import t
from tenantctl.bot.routers import HasPermission, Routes
from tenantctl.bot.routers import admin_panel_views as views
from tenantctl.bot.routers.admin_panel_views import (
    Act,
    Do,
    Go,
    GrantSet,
    OverrideSet,
    OverrideUntil,
    Screen,
    Search,
    Stage,
    TenantList,
    Until,
)
from tenantctl.bot.screens import (
    Expired,
    ScreenContext,
    View,
    noted,
    respond,
    waiting_filter,
)
from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.core.money import format_money, normalize_digits, parse_rubles
from tenantctl.flags.catalogue import coerce_value
from tenantctl.flags.gate import FeatureGate
from tenantctl.flags.models import TenantFeatureOverride
from tenantctl.flags.service import validated_layer
from tenantctl.plans import service as plans
from tenantctl.plans.models import PlanFeatureGrant
from tenantctl.plans.preview import plan_change_preview, tenants_on_plan
from tenantctl.tenants.models import ApiToken
from tenantctl.tenants.overrides import set_override
from tenantctl.tenants.permissions import Permission, require
from tenantctl.tenants.telegram import StarsAccount
from tenantctl.tenants.tokens import issue_api_token, revoke_api_token

LAST_SEARCH = "panel_search"  # the FSM data entry of the admin's last tenant search
MAX_MONTHS = 120


router = Routes("admin_panel", HasPermission(Permission.MANAGE_TENANTS))


@dataclass
class Ctx(ScreenContext):
    """What a panel handler works with: the update's unit of work and who is acting."""

    PENDING = "panel"

    gate: FeatureGate | None = None
    runner: Any = None

    @classmethod
    def of(cls, user: User, data: dict[str, Any]) -> Ctx:
        return cls(data["session"], data["outbox"], data["lang"], data["app"], data["state"], data["bot"], user.id,
                   data["gate"], data.get("runner"))

    async def actor(self, permission: Permission) -> str:
        """`tg:<id>`, once the service's permission check agrees this user may make the change."""
        await require(self.session, master_admins=self.app.settings.master_admin_ids, actor_telegram_id=self.user_id,
                      bot_id=None, permission=permission)
        return f"tg:{self.user_id}"

    def after_commit(self, *bot_ids: int, restart: bool = False) -> None:
        """Once committed: the bots' cached flags are dropped; with `restart`, the supervisor re-reads the bots."""
        for bot_id in bot_ids:
            self.outbox.then(partial(self.gate.invalidate, bot_id))
        if restart and self.runner is not None:
            self.outbox.then(self.runner.nudge)


# ----- entry and navigation ------------------------------------------------------------------


@router.message(Command("admin"))
async def admin(message: Message, **data: Any) -> None:
    """/admin: the panel's home (any input it was waiting for is dropped)."""
    ctx = Ctx.of(message.from_user, data)
    await ctx.wait_for(None)
    await respond(ctx, message, lambda: views.home(ctx.session, ctx.lang))


async def _screen(ctx: Ctx, data: Go) -> View:
    s, lang, a, b = ctx.session, ctx.lang, data.a, data.b
    screens: dict[Screen, Callable[[], Awaitable[View]]] = {
        Screen.HOME: lambda: views.home(s, lang),
        Screen.TENANT: lambda: views.tenant(s, lang, a),
        Screen.TENANT_FEATURES: lambda: views.tenant_features(s, lang, a, b),
        Screen.TENANT_FEATURE: lambda: views.tenant_feature(s, lang, a, b),
        Screen.TENANT_PLAN: lambda: views.tenant_plans(s, lang, a),
        Screen.ADMINS: lambda: views.admins(s, lang, a),
        Screen.TOKENS: lambda: views.tokens(s, lang, a, b),
        Screen.PLANS: lambda: views.plans(s, lang),
        Screen.PLAN: lambda: views.plan(s, lang, a, b),
        Screen.PLAN_FEATURE: lambda: views.plan_feature(s, lang, a, b),
        Screen.FEATURES: lambda: views.features(s, lang, a),
        Screen.FEATURE: lambda: views.feature(s, lang, a, b),
        Screen.PAYMENTS: lambda: views.payments(s, lang, a),
        Screen.RECEIPT: lambda: views.receipt(s, lang, a),
        Screen.REFUNDS: lambda: views.refunds(s, lang, a),
        Screen.STATS: lambda: views.stats(s, lang, a),
        Screen.MRR_CHART: lambda: views.mrr_chart(s, lang),
        Screen.AUDIT: lambda: views.audit(s, lang, a, b),
        Screen.FEATURE_AUDIT: lambda: views.feature_audit(s, lang, a, b),
    }
    return await screens[data.to]()


@router.callback_query(Go.filter())
async def go(query: CallbackQuery, callback_data: Go, **data: Any) -> None:
    """Open a screen (leaving any input the panel waited for)."""
    ctx = Ctx.of(query.from_user, data)
    await ctx.wait_for(None)
    await respond(ctx, query, lambda: _screen(ctx, callback_data))


@router.callback_query(TenantList.filter())
async def tenant_list(query: CallbackQuery, callback_data: TenantList, **data: Any) -> None:
    """The tenants list, with its filters and the last search (leaving any input the panel waited for)."""
    ctx = Ctx.of(query.from_user, data)
    await ctx.wait_for(None)
    search = (await ctx.state.get_data()).get(LAST_SEARCH) if callback_data.search == Search.LAST else None
    await respond(ctx, query, lambda: views.tenants(ctx.session, ctx.lang, callback_data, search=search))


# ----- actions -------------------------------------------------------------------------------


async def _lifecycle(ctx: Ctx, data: Act) -> View:
    if data.stage == Stage.ASK:
        return await views.lifecycle_question(ctx.session, ctx.lang, data.do, data.a)
    await views.tenant_or_expired(ctx.session, data.a)
    change = {Do.SUSPEND: lifecycle.suspend_tenant, Do.RESUME: lifecycle.resume_tenant, Do.CANCEL: lifecycle.cancel_tenant}[data.do]
    bot = await change(ctx.session, bot_id=data.a, actor=await ctx.actor(Permission.MANAGE_TENANTS))
    ctx.after_commit(bot.id, restart=True)
    return noted(await views.tenant(ctx.session, ctx.lang, bot.id), t(ctx.lang, "ap_status_now", status=bot.status))


async def _set_plan(ctx: Ctx, data: Act) -> View:
    bot = await views.tenant_or_expired(ctx.session, data.a)
    plan = await views.plan_or_expired(ctx.session, data.b)
    if data.stage == Stage.ASK:
        changes = await plan_change_preview(ctx.session, bot_id=bot.id, plan=plan.name)
        return views.plan_change_question(ctx.lang, bot, plan, changes)
    await plans.change_tenant_plan(ctx.session, bot_id=bot.id, plan=plan.name, actor=await ctx.actor(Permission.MANAGE_TENANTS))
    ctx.after_commit(bot.id)
    return noted(await views.tenant(ctx.session, ctx.lang, bot.id), t(ctx.lang, "ap_plan_now", plan=plan.display_name))


async def _issue_token(ctx: Ctx, data: Act) -> View:
    bot = await views.tenant_or_expired(ctx.session, data.a)
    plaintext, _row = await issue_api_token(ctx.session, bot_id=bot.id, actor=await ctx.actor(Permission.MANAGE_TENANTS))
    ctx.outbox.send(SendMessage(chat_id=ctx.user_id, text=t(ctx.lang, "ap_token_issued", name=bot.name, token=plaintext)))
    return await views.tokens(ctx.session, ctx.lang, bot.id)


async def _revoke_token(ctx: Ctx, data: Act) -> View:
    token = await ctx.session.scalar(select(ApiToken).where(ApiToken.id == data.b, ApiToken.bot_id == data.a))
    if token is None:
        raise Expired(data.b)
    await revoke_api_token(ctx.session, bot_id=data.a, prefix=token.prefix, actor=await ctx.actor(Permission.MANAGE_TENANTS))
    return noted(await views.tokens(ctx.session, ctx.lang, data.a), t(ctx.lang, "ap_token_revoked", prefix=token.prefix))


async def _ask(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    """Wait for typed input described by `pending`, and say what to type."""
    await ctx.wait_for(pending)
    return views.prompt(ctx.lang, text, _back(pending))


def _back(pending: dict[str, Any]) -> Go | TenantList:
    """The screen an input was asked from: where its Back goes."""
    feature = views.fid(pending["feature"]) if "feature" in pending else 0
    if "bot_id" in pending:
        return Go(to=Screen.TENANT_FEATURE, a=pending["bot_id"], b=feature) if feature else Go(to=Screen.TENANT, a=pending["bot_id"])
    if "plan_id" in pending:
        return Go(to=Screen.PLAN_FEATURE, a=pending["plan_id"], b=feature) if feature else Go(to=Screen.PLAN, a=pending["plan_id"])
    return TenantList() if pending["kind"] == "search" else Go(to=Screen.PLANS)


async def _extend(ctx: Ctx, data: Act) -> View:
    bot = await views.tenant_or_expired(ctx.session, data.a)
    return await _ask(ctx, {"kind": "extend_months", "bot_id": bot.id}, t(ctx.lang, "ap_ask_months", name=bot.name))


async def _override_config(ctx: Ctx, data: Act) -> View:
    await views.tenant_or_expired(ctx.session, data.a)
    feature = await views.feature_by_fid(ctx.session, data.b)
    return await _ask(ctx, {"kind": "override_config", "bot_id": data.a, "feature": feature.key},
                      t(ctx.lang, "ap_ask_config", keys=", ".join(feature.config_keys), template=feature.default_config))


async def _search(ctx: Ctx, data: Act) -> View:
    return await _ask(ctx, {"kind": "search"}, t(ctx.lang, "ap_ask_search"))


async def _plan_new(ctx: Ctx, data: Act) -> View:
    return await _ask(ctx, {"kind": "plan_new", "fields": {}}, t(ctx.lang, "ap_ask_plan_name"))


PLAN_NUMBERS = {Do.PLAN_PRICE: "monthly_price_kopeks", Do.PLAN_FEE: "activation_fee_kopeks", Do.PLAN_SHARE: "revenue_share_percent"}


def _plan_number_text(field: str, value: int) -> str:
    """A plan's money field as money, its revenue share as a percentage."""
    return f"{value}%" if field == "revenue_share_percent" else format_money(value)


async def _plan_money(ctx: Ctx, data: Act) -> View:
    plan = await views.plan_or_expired(ctx.session, data.a)
    field = PLAN_NUMBERS[data.do]
    return await _ask(ctx, {"kind": "plan_money", "plan_id": plan.id, "field": field},
                      t(ctx.lang, f"ap_ask_{field}", plan=plan.display_name, now=_plan_number_text(field, getattr(plan, field))))


async def _plan_edit(ctx: Ctx, data: Act) -> View:
    """Apply the plan edit that was typed and confirmed."""
    pending = await ctx.pending()
    if not pending or pending.get("kind") != "plan_edit" or pending.get("plan_id") != data.a:
        raise Expired(data.a)
    plan = await views.plan_or_expired(ctx.session, data.a)
    await plans.edit_plan(ctx.session, name=plan.name, actor=await ctx.actor(Permission.MANAGE_FEATURE_FLAGS), **pending["changes"])
    await ctx.wait_for(None)
    return noted(await views.plan(ctx.session, ctx.lang, plan.id, 0), t(ctx.lang, "ap_saved"))


async def _archive(ctx: Ctx, data: Act) -> View:
    plan = await views.plan_or_expired(ctx.session, data.a)
    if data.stage == Stage.ASK:
        affected = len(await tenants_on_plan(ctx.session, plan_id=plan.id))
        return views.confirm(ctx.lang, t(ctx.lang, "ap_ask_archive", plan=plan.display_name, tenants=affected),
                             Act(do=Do.ARCHIVE, a=plan.id, stage=Stage.DO), Go(to=Screen.PLAN, a=plan.id))
    await plans.archive_plan(ctx.session, name=plan.name, actor=await ctx.actor(Permission.MANAGE_FEATURE_FLAGS))
    return noted(await views.plan(ctx.session, ctx.lang, plan.id, 0), t(ctx.lang, "ap_saved"))


async def _grant_config(ctx: Ctx, data: Act) -> View:
    plan = await views.plan_or_expired(ctx.session, data.a)
    feature = await views.feature_by_fid(ctx.session, data.b)
    if data.stage == Stage.ASK:
        return await _ask(ctx, {"kind": "grant_config", "plan_id": plan.id, "feature": feature.key},
                          t(ctx.lang, "ap_ask_config", keys=", ".join(feature.config_keys), template=feature.default_config))
    pending = await ctx.pending()
    if not pending or pending.get("kind") != "grant_edit" or (pending["plan_id"], pending["feature"]) != (plan.id, feature.key):
        raise Expired(data.b)
    return await _apply_grant(ctx, plan.id, feature.key, pending["enabled"], pending["value"], pending["config"])


async def _retry_refund(ctx: Ctx, data: Act) -> View:
    """Make a pending Stars refund now, once this update has committed (no transaction open across the call)."""
    refund = await ctx.session.get(PlatformRefund, data.a)
    if refund is None or not views.retryable(refund):
        raise Expired(data.a)
    await ctx.actor(Permission.REVIEW_PLATFORM_PAYMENTS)
    ctx.outbox.then(partial(_run_refund, ctx.bot, ctx.app, refund.id, admin=ctx.user_id, lang=ctx.lang))
    return await views.refunds(ctx.session, ctx.lang, 0)


async def _run_refund(bot: Bot, app: App, refund_id: int, *, admin: int, lang: str) -> None:
    ledger = StarsAccount(app.settings.telegram_api_server, bot.token)
    made = await run_refunds(app.sessions, ledger=ledger, now=utcnow(), actor=f"tg:{admin}", refund_id=refund_id)
    async with app.unit_of_work() as session:
        refund = await session.get(PlatformRefund, refund_id)
        text = views.refund_line(lang, refund) if made else t(lang, "ap_refund_not_due", line=views.refund_line(lang, refund))
    await bot.send_message(admin, text)


ACTIONS: dict[Do, Callable[[Ctx, Act], Awaitable[View]]] = {
    Do.SUSPEND: _lifecycle, Do.RESUME: _lifecycle, Do.CANCEL: _lifecycle, Do.SET_PLAN: _set_plan, Do.EXTEND: _extend,
    Do.ISSUE_TOKEN: _issue_token, Do.REVOKE_TOKEN: _revoke_token, Do.OVERRIDE_CONFIG: _override_config, Do.SEARCH: _search,
    Do.PLAN_NEW: _plan_new, Do.PLAN_PRICE: _plan_money, Do.PLAN_FEE: _plan_money, Do.PLAN_SHARE: _plan_money, Do.PLAN_EDIT: _plan_edit,
    Do.ARCHIVE: _archive, Do.GRANT_CONFIG: _grant_config, Do.RETRY_REFUND: _retry_refund,
}


ANSWERED_BY_BUTTON = (Do.PLAN_EDIT, Do.GRANT_CONFIG)  # their DO applies the input the panel waits for


@router.callback_query(Act.filter())
async def act(query: CallbackQuery, callback_data: Act, **data: Any) -> None:
    """An action button: ask first where asking is due, then make the change."""
    ctx = Ctx.of(query.from_user, data)
    if callback_data.do not in ANSWERED_BY_BUTTON:
        await ctx.wait_for(None)
    await respond(ctx, query, lambda: ACTIONS[callback_data.do](ctx, callback_data))


# ----- overrides -----------------------------------------------------------------------------


async def _start_override(ctx: Ctx, data: OverrideSet) -> View:
    await views.tenant_or_expired(ctx.session, data.bot_id)
    feature = await views.feature_by_fid(ctx.session, data.fid)
    enabled, value = views.choice_value(feature, data.choice)
    current = await ctx.session.get(TenantFeatureOverride, (data.bot_id, feature.key))
    draft = {"bot_id": data.bot_id, "feature": feature.key, "enabled": enabled, "value": value, "config": {}}
    if data.choice == "inh":  # inherit: the override goes away, so it has no expiry
        if current is None:
            raise NotFound(f"bot {data.bot_id} has no override for {feature.key}")
        return await _ask(ctx, {**draft, "kind": "override_reason", "expires": None}, t(ctx.lang, "ap_ask_reason"))
    draft["config"] = current.config_override if current is not None else {}
    await validated_layer(ctx.session, feature=feature.key, enabled=enabled, value=value, config=draft["config"])
    await ctx.wait_for({**draft, "kind": "override_expiry"})
    return views.expiry_question(ctx.lang, data.bot_id, data.fid)


@router.callback_query(OverrideSet.filter())
async def override_choice(query: CallbackQuery, callback_data: OverrideSet, **data: Any) -> None:
    """On, off, inherit or a mode value for a tenant's feature: then its expiry and a reason."""
    ctx = Ctx.of(query.from_user, data)
    await respond(ctx, query, lambda: _start_override(ctx, callback_data))


async def _override_until(ctx: Ctx, data: OverrideUntil) -> View:
    pending = await ctx.pending()
    if (not pending or pending.get("kind") != "override_expiry" or pending["bot_id"] != data.bot_id
            or views.fid(pending["feature"]) != data.fid):
        raise Expired(data.fid)
    if data.until == Until.TYPED:
        return await _ask(ctx, {**pending, "kind": "override_date"}, t(ctx.lang, "ap_ask_date"))
    expires = None if data.until == Until.NEVER else (utcnow() + timedelta(days=int(data.until.value))).isoformat()
    return await _ask(ctx, {**pending, "kind": "override_reason", "expires": expires}, t(ctx.lang, "ap_ask_reason"))


@router.callback_query(OverrideUntil.filter())
async def override_until(query: CallbackQuery, callback_data: OverrideUntil, **data: Any) -> None:
    """The override's expiry: 1, 7 or 30 days, never, or a date to type."""
    ctx = Ctx.of(query.from_user, data)
    await respond(ctx, query, lambda: _override_until(ctx, callback_data))


# ----- grants --------------------------------------------------------------------------------


async def _apply_grant(ctx: Ctx, plan_id: int, feature_key: str, enabled: bool | None, value: str | None,
                       config: dict[str, Any]) -> View:
    """Set (or with enabled and value None, remove) a plan's grant; every tenant on the plan follows at once."""
    plan = await views.plan_or_expired(ctx.session, plan_id)
    actor = await ctx.actor(Permission.MANAGE_FEATURE_FLAGS)
    if enabled is None and value is None:
        await plans.revoke_grant(ctx.session, plan=plan.name, feature=feature_key, actor=actor)
    else:
        await plans.set_grant(ctx.session, plan=plan.name, feature=feature_key, actor=actor, enabled=bool(enabled) or value is not None,
                              value=value, config=config)
    await ctx.wait_for(None)
    affected = await tenants_on_plan(ctx.session, plan_id=plan.id)
    ctx.after_commit(*affected)
    return noted(await views.plan_feature(ctx.session, ctx.lang, plan.id, views.fid(feature_key)),
                 t(ctx.lang, "ap_grant_saved", tenants=len(affected)))


async def _grant(ctx: Ctx, data: GrantSet) -> View:
    plan = await views.plan_or_expired(ctx.session, data.plan_id)
    feature = await views.feature_by_fid(ctx.session, data.fid)
    enabled, value = views.choice_value(feature, data.choice)
    current = await ctx.session.get(PlanFeatureGrant, (plan.id, feature.key))
    config = current.config_override if current is not None else {}
    if data.stage == Stage.DO:
        return await _apply_grant(ctx, plan.id, feature.key, enabled, value, config)
    if data.choice == "rm" and current is None:
        raise NotFound(f"plan {plan.name!r} has no grant for {feature.key!r}")
    if data.choice != "rm":
        await validated_layer(ctx.session, feature=feature.key, enabled=enabled, value=value, config=config)
    affected = len(await tenants_on_plan(ctx.session, plan_id=plan.id))
    label = {"on": "on", "off": "off", "rm": t(ctx.lang, "ap_no_grant")}.get(data.choice, value)
    return views.confirm(ctx.lang, t(ctx.lang, "ap_ask_grant", plan=plan.display_name, code=feature.key, choice=label, tenants=affected),
                         GrantSet(plan_id=plan.id, fid=data.fid, choice=data.choice, stage=Stage.DO),
                         Go(to=Screen.PLAN_FEATURE, a=plan.id, b=data.fid))


@router.callback_query(GrantSet.filter())
async def grant(query: CallbackQuery, callback_data: GrantSet, **data: Any) -> None:
    """A plan's grant of a feature: first how many tenants it reaches, then the change."""
    ctx = Ctx.of(query.from_user, data)
    await ctx.wait_for(None)
    await respond(ctx, query, lambda: _grant(ctx, callback_data))


# ----- typed input ---------------------------------------------------------------------------


def _key_value(text: str) -> tuple[str, Any]:
    """`KEY=VALUE`, the value typed like the catalogue's defaults."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise Invalid("send KEY=VALUE", code="ap_key_value")
    return key.strip(), coerce_value(raw.strip())


def _date(text: str) -> datetime:
    """A typed date (YYYY-MM-DD, UTC midnight) or ISO time (UTC unless it gives an offset)."""
    try:
        when = datetime.fromisoformat(normalize_digits(text.strip()))
    except ValueError:
        raise Invalid("not a date", code="ap_bad_date") from None
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


async def _input_override_config(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    key, value = _key_value(text)
    current = await ctx.session.get(TenantFeatureOverride, (pending["bot_id"], pending["feature"]))
    enabled, mode = (current.enabled, current.value) if current is not None else (None, None)
    config = {**(current.config_override if current is not None else {}), key: value}
    await validated_layer(ctx.session, feature=pending["feature"], enabled=enabled, value=mode, config=config)
    await ctx.wait_for({**pending, "kind": "override_expiry", "enabled": enabled, "value": mode, "config": config})
    return views.expiry_question(ctx.lang, pending["bot_id"], views.fid(pending["feature"]))


async def _input_override_date(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    when = _date(text)
    if when <= utcnow():
        raise Invalid("the expiry is in the past", code="ap_past_date")
    return await _ask(ctx, {**pending, "kind": "override_reason", "expires": when.isoformat()}, t(ctx.lang, "ap_ask_reason"))


async def _input_override_reason(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    bot_id = pending["bot_id"]
    await views.tenant_or_expired(ctx.session, bot_id)
    await set_override(ctx.session, bot_id=bot_id, feature=pending["feature"], enabled=pending["enabled"], value=pending["value"],
                       config=pending["config"], expires_at=datetime.fromisoformat(pending["expires"]) if pending["expires"] else None,
                       reason=text, actor=await ctx.actor(Permission.MANAGE_FEATURE_FLAGS))
    await ctx.wait_for(None)
    ctx.after_commit(bot_id)
    return noted(await views.tenant_feature(ctx.session, ctx.lang, bot_id, views.fid(pending["feature"])), t(ctx.lang, "ap_saved"))


async def _input_months(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    months = normalize_digits(text.strip())
    if not months.isdigit() or not 1 <= int(months) <= MAX_MONTHS:
        raise Invalid("months", code="ap_bad_months")
    return await _ask(ctx, {**pending, "kind": "extend_reason", "months": int(months)}, t(ctx.lang, "ap_ask_reason"))


async def _input_extend_reason(ctx: Ctx, pending: dict[str, Any], text: str, message: Message) -> View:
    bot_id = pending["bot_id"]
    await views.tenant_or_expired(ctx.session, bot_id)
    result = await record_payment(ctx.session, bot_id=bot_id, amount_kopeks=0, method=MANUAL, months=pending["months"], reason=text,
                                  reference=f"tg:{ctx.user_id}:{message.message_id}", actor=await ctx.actor(Permission.MANAGE_TENANTS))
    await ctx.wait_for(None)
    ctx.after_commit(bot_id, restart=True)
    return noted(await views.tenant(ctx.session, ctx.lang, bot_id),
                 t(ctx.lang, "ap_extended", months=result.months, date=views.day(result.subscription.end_date)))


async def _input_search(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    await ctx.wait_for(None)
    await ctx.state.update_data({LAST_SEARCH: text.strip()})
    return await views.tenants(ctx.session, ctx.lang, TenantList(search=Search.LAST), search=text.strip())


async def _input_plan_money(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    plan = await views.plan_or_expired(ctx.session, pending["plan_id"])
    field = pending["field"]
    value = _percent(text) if field == "revenue_share_percent" else parse_rubles(text)
    affected = len(await tenants_on_plan(ctx.session, plan_id=plan.id))
    await ctx.wait_for({"kind": "plan_edit", "plan_id": plan.id, "changes": {field: value}})
    return views.confirm(ctx.lang, t(ctx.lang, f"ap_confirm_{field}", plan=plan.display_name, amount=_plan_number_text(field, value),
                                     tenants=affected),
                         Act(do=Do.PLAN_EDIT, a=plan.id, stage=Stage.DO), Go(to=Screen.PLAN, a=plan.id))


def _percent(text: str) -> int:
    """A whole percentage, 0 to 100, as typed (Persian digits and a trailing % accepted)."""
    digits = normalize_digits(text).strip().rstrip("%٪").strip()
    if not (digits.isascii() and digits.isdigit() and int(digits) <= 100):
        raise Invalid("a share is a whole percentage from 0 to 100")
    return int(digits)


PLAN_FORM = ("name", "display_name", "monthly_price_kopeks", "activation_fee_kopeks")  # the new-plan form, in order


async def _input_plan_new(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    fields = dict(pending["fields"])
    step = PLAN_FORM[len(fields)]
    if step == "name":
        try:
            await plans.get_plan(ctx.session, text)
        except NotFound:
            fields["name"] = text.strip().lower()
        else:
            raise Conflict(f"plan {text.strip()!r} exists already")
    else:
        fields[step] = parse_rubles(text) if step.endswith("_kopeks") else text.strip()
    if len(fields) < len(PLAN_FORM):
        return await _ask(ctx, {**pending, "fields": fields}, t(ctx.lang, f"ap_ask_plan_{PLAN_FORM[len(fields)]}"))
    await ctx.wait_for(None)  # refused or not, the form is done: a refusal starts it again from New plan
    created = await plans.create_plan(ctx.session, actor=await ctx.actor(Permission.MANAGE_FEATURE_FLAGS), **fields)
    return noted(await views.plan(ctx.session, ctx.lang, created.id, 0), t(ctx.lang, "ap_saved"))


async def _input_grant_config(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    key, value = _key_value(text)
    plan = await views.plan_or_expired(ctx.session, pending["plan_id"])
    current = await ctx.session.get(PlanFeatureGrant, (plan.id, pending["feature"]))
    enabled, mode = (current.enabled, current.value) if current is not None else (True, None)
    config = {**(current.config_override if current is not None else {}), key: value}
    await validated_layer(ctx.session, feature=pending["feature"], enabled=enabled, value=mode, config=config)
    affected = len(await tenants_on_plan(ctx.session, plan_id=plan.id))
    await ctx.wait_for({"kind": "grant_edit", "plan_id": plan.id, "feature": pending["feature"], "enabled": enabled, "value": mode,
                        "config": config})
    feature_id = views.fid(pending["feature"])
    return views.confirm(ctx.lang, t(ctx.lang, "ap_ask_grant", plan=plan.display_name, code=pending["feature"], choice=config,
                                     tenants=affected),
                         Act(do=Do.GRANT_CONFIG, a=plan.id, b=feature_id, stage=Stage.DO), Go(to=Screen.PLAN_FEATURE, a=plan.id, b=feature_id))


INPUTS: dict[str, Callable[..., Awaitable[View]]] = {
    "override_config": _input_override_config, "override_date": _input_override_date, "override_reason": _input_override_reason,
    "extend_months": _input_months, "search": _input_search, "plan_money": _input_plan_money, "plan_new": _input_plan_new,
    "grant_config": _input_grant_config,
}


@router.message(F.text & ~F.text.startswith("/"), waiting_filter(Ctx.PENDING))
async def typed(message: Message, pending: dict[str, Any], **data: Any) -> None:
    """The input the panel asked for; a wrong one is refused with its reason and asked again."""
    ctx = Ctx.of(message.from_user, data)
    kind = pending.get("kind")
    if kind == "extend_reason":
        build = partial(_input_extend_reason, ctx, pending, message.text, message)
    elif kind in INPUTS:
        build = partial(INPUTS[kind], ctx, pending, message.text)
    else:  # waiting for a button (an expiry, a confirmation), not for text
        ctx.outbox.send(message.answer(t(ctx.lang, "language_unknown")))
        return
    await respond(ctx, message, build)
