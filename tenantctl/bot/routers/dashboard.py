"""The tenant admin dashboard: /dashboard in a tenant bot, and /my_bots in the master bot.

Who: the bot's owner and admins (`bot_admins`), and the master admins. Anyone else's /dashboard or
button gets what an unknown command or button gets. The bot being managed is the tenant bot the
update came to, or on the master bot the one chosen in /my_bots, kept in the user's FSM data and
checked against `bot_admins` on every update (`DashboardAccess`); callback data never names it.
Each section asks `tenants.permissions.require` for its own permission; a refused or foreign button
(a plan or card of another bot) changes nothing and is audited as `dashboard.refused`.

Typed input (a form's fields) waits in the `dashboard` entry of the user's FSM data; Back, Home,
/dashboard or /cancel stop the wait. On the master bot a registration in progress comes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from aiogram import F
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery, Message, User
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.bot.keyboards import keyboard
from tenantctl.bot.locales import t
from tenantctl.bot.routers import Routes
from tenantctl.bot.routers import dashboard_views as views
from tenantctl.bot.keyboards import MyBot
from tenantctl.bot.routers.dashboard_views import MASTER_PAGES, PLAN_FIELDS, Dash, DashAct, DashDo, Page
from tenantctl.bot.screens import Expired, ScreenContext, Stage, View, noted, respond, waiting_filter
from tenantctl.core.app import App
from tenantctl.core.errors import Forbidden, Invalid, NotFound
from tenantctl.core.money import normalize_digits
from tenantctl.customers import bot_plans, cards
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.tenants.admins import add_admin_as, remove_admin_as
from tenantctl.tenants.gateway import set_gateway_value
from tenantctl.tenants.models import CARD_ROTATIONS, Bot, BotAdmin
from tenantctl.tenants.permissions import Permission, require, role_of

SELECTED = "dashboard_bot"  # on the master bot: the FSM data entry of the bot chosen in /my_bots
PLAN_STEPS = ("name", "period", "price", "traffic", "devices")
CARD_STEPS = ("number", "holder", "bank")

router = Routes("dashboard")


@dataclass
class Ctx(ScreenContext):
    """What a dashboard handler works with: the unit of work, who is acting, on which bot, in which role."""

    PENDING = "dashboard"

    managed: Bot | None = None
    role: str = ""
    on_master: bool = False

    @classmethod
    def of(cls, user: User, data: dict[str, Any]) -> Ctx:
        return cls(data["session"], data["outbox"], data["lang"], data["app"], data["state"], data["bot"], user.id,
                   data.get("managed"), data.get("role", ""), data.get("tenant") is None)

    @property
    def tenant(self) -> Bot:
        assert self.managed is not None  # DashboardAccess set it
        return self.managed

    async def actor(self, permission: Permission) -> str:
        """`tg:<id>`, once the service's permission check agrees this user holds `permission` on the bot."""
        await require(self.session, master_admins=self.app.settings.master_admin_ids, actor_telegram_id=self.user_id,
                      bot_id=self.tenant.id, permission=permission)
        return f"tg:{self.user_id}"

    async def refused(self, event: Message | CallbackQuery, exc: Exception) -> None:
        """Audit a button refused for a missing permission or a row not of this bot (forged, or gone)."""
        if isinstance(event, CallbackQuery) and isinstance(exc, (Expired, Forbidden, NotFound)):
            bot_id = self.managed.id if self.managed is not None else None  # None: a bot chosen in /my_bots
            await record(self.session, actor=f"tg:{self.user_id}", action="dashboard.refused",
                         entity=f"bot:{bot_id}" if bot_id else "my_bots", bot_id=bot_id,
                         after={"data": event.data, "reason": type(exc).__name__})

    async def answer(self, event: Message | CallbackQuery, build) -> None:
        """Show what `build` makes; a refusal is answered and audited."""
        await respond(self, event, build, on_refusal=partial(self.refused, event))


class DashboardAccess(Filter):
    """Passes for the owner and admins of the bot being managed (and the master admins), with `managed`
    (its row) and `role`. On the master bot, not while the user has a registration open."""

    async def __call__(self, event: Any, session: AsyncSession, app: App, state: Any = None, tenant: Any = None,
                       draft: TenantRegistration | None = None, event_from_user: User | None = None) -> dict[str, Any] | bool:
        if event_from_user is None or draft is not None:
            return False
        bot_id = tenant.id if tenant is not None else (await state.get_data()).get(SELECTED) if state is not None else None
        if not bot_id:
            return False
        role = await role_of(session, master_admins=app.settings.master_admin_ids, actor_telegram_id=event_from_user.id, bot_id=bot_id)
        managed = await session.get(Bot, bot_id) if role is not None else None
        if managed is None or (managed.is_master and role != "master_admin"):
            return False
        return {"managed": managed, "role": role}


ACCESS = DashboardAccess()


async def on_master(_event: Any, tenant: Any = None) -> bool:
    """Passes on the master bot."""
    return tenant is None


async def not_registering(_event: Any, draft: TenantRegistration | None = None) -> bool:
    """Passes unless the user has a registration open on the master bot (which takes their input first)."""
    return draft is None


# ----- entry ---------------------------------------------------------------------------------


@router.message(Command("dashboard"), ACCESS)
async def dashboard(message: Message, **data: Any) -> None:
    """/dashboard: the dashboard's home (any input it was waiting for is dropped)."""
    ctx = Ctx.of(message.from_user, data)
    await ctx.wait_for(None)
    await ctx.answer(message, lambda: _home(ctx))


async def _home(ctx: Ctx) -> View:
    await ctx.actor(Permission.VIEW_STATISTICS)
    return await views.home(ctx.session, ctx.lang, ctx.tenant, ctx.role, on_master=ctx.on_master)


async def _my_bots(session: AsyncSession, lang: str, user_id: int) -> View:
    """The tenant bots this user owns or administers, one button each."""
    rows = (await session.execute(
        select(Bot, BotAdmin.role).join(BotAdmin, BotAdmin.bot_id == Bot.id)
        .where(BotAdmin.telegram_user_id == user_id, Bot.is_master.is_(False)).order_by(Bot.id)
    )).all()
    if not rows:
        return View(t(lang, "db_no_bots"), keyboard())
    return View(t(lang, "db_my_bots"), keyboard(*(
        [(t(lang, "db_bot_line", name=bot.name, status=bot.status, role=t(lang, f"db_role_{role}")), MyBot(bot_id=bot.id))]
        for bot, role in rows)))


@router.message(Command("my_bots"), on_master)
async def my_bots(message: Message, **data: Any) -> None:
    """/my_bots on the master bot: the bots this user owns or administers."""
    ctx = Ctx.of(message.from_user, data)
    await ctx.answer(message, lambda: _my_bots(ctx.session, ctx.lang, ctx.user_id))


@router.callback_query(MyBot.filter(), on_master)
async def choose_bot(query: CallbackQuery, callback_data: MyBot, **data: Any) -> None:
    """Manage the chosen bot, once its admins are checked (0: back to the list); the master bot's cards for a master admin."""
    ctx = Ctx.of(query.from_user, data)

    async def build() -> View:
        if callback_data.bot_id == 0:
            return await _my_bots(ctx.session, ctx.lang, ctx.user_id)
        chosen = await ctx.session.get(Bot, callback_data.bot_id)
        role = await role_of(ctx.session, master_admins=ctx.app.settings.master_admin_ids, actor_telegram_id=ctx.user_id,
                             bot_id=callback_data.bot_id)
        if chosen is None or role is None or (chosen.is_master and role != "master_admin"):
            raise Expired(callback_data.bot_id)
        state = await ctx.state.get_data()
        state.pop(Ctx.PENDING, None)
        await ctx.state.set_data({**state, SELECTED: chosen.id})
        ctx.managed, ctx.role = chosen, role
        if chosen.is_master:  # "Our cards" in the admin panel
            return await _screen(ctx, Dash(to=Page.CARDS))
        return await _home(ctx)

    await ctx.answer(query, build)


# ----- screens -------------------------------------------------------------------------------


async def _screen(ctx: Ctx, data: Dash) -> View:
    s, lang, bot, a = ctx.session, ctx.lang, ctx.tenant, data.a
    screens = {
        Page.HOME: (Permission.VIEW_STATISTICS, lambda: views.home(s, lang, bot, ctx.role, on_master=ctx.on_master)),
        Page.STATS: (Permission.VIEW_STATISTICS, lambda: views.stats(s, lang, bot, a)),
        Page.CHART: (Permission.VIEW_STATISTICS, lambda: views.chart(s, lang, bot, a)),
        Page.PLANS: (Permission.MANAGE_PLANS, lambda: views.plans(s, lang, bot, a)),
        Page.PLAN: (Permission.MANAGE_PLANS, lambda: views.plan(s, lang, bot, a)),
        Page.CARDS: (Permission.MANAGE_PAYMENT_CARDS, lambda: views.card_list(s, lang, bot, a)),
        Page.CARD: (Permission.MANAGE_PAYMENT_CARDS, lambda: views.card(s, lang, bot, a)),
        Page.GATEWAYS: (Permission.MANAGE_PAYMENT_GATEWAYS, lambda: views.gateways(s, lang, bot)),
        Page.GATEWAY: (Permission.MANAGE_PAYMENT_GATEWAYS, lambda: views.gateway_screen(s, lang, bot, a)),
        Page.ADMINS: (Permission.VIEW_STATISTICS, lambda: views.admins(s, lang, bot, ctx.role)),
    }
    if ctx.tenant.is_master and data.to.value not in MASTER_PAGES:
        raise Expired(data.to)
    permission, build = screens[data.to]
    await ctx.actor(permission)
    return await build()


@router.callback_query(Dash.filter(), ACCESS)
async def go(query: CallbackQuery, callback_data: Dash, **data: Any) -> None:
    """Open a screen (leaving any input the dashboard waited for)."""
    ctx = Ctx.of(query.from_user, data)
    await ctx.wait_for(None)
    await ctx.answer(query, lambda: _screen(ctx, callback_data))


# ----- actions -------------------------------------------------------------------------------


async def _ask(ctx: Ctx, pending: dict[str, Any], text: str, back: Dash, *extra_rows) -> View:
    """Wait for typed input described by `pending`, and say what to type."""
    await ctx.wait_for(pending)
    return View(text, keyboard(*extra_rows, views.nav(ctx.lang, back)))


async def _plan_new(ctx: Ctx, data: DashAct) -> View:
    await ctx.actor(Permission.MANAGE_PLANS)
    return await _ask(ctx, {"kind": "plan_new", "fields": {}}, t(ctx.lang, "db_ask_plan_name"), Dash(to=Page.PLANS))


def _field_permission(field: str) -> Permission:
    return Permission.MANAGE_PRICING if field == "price" else Permission.MANAGE_PLANS


async def _plan_field(ctx: Ctx, data: DashAct) -> View:
    if not 0 <= data.b < len(PLAN_FIELDS):
        raise Expired(data.b)
    field = PLAN_FIELDS[data.b]
    await ctx.actor(_field_permission(field))
    plan = await views.plan_or_expired(ctx.session, ctx.tenant, data.a)
    return await _ask(ctx, {"kind": "plan_field", "plan_id": plan.id, "field": field},
                      t(ctx.lang, "db_ask_plan_field", plan=plan.name, field=t(ctx.lang, f"db_btn_{field}").lower(),
                        now=views.plan_field_now(ctx.lang, plan, field)),
                      Dash(to=Page.PLAN, a=plan.id))


async def _plan_active(ctx: Ctx, data: DashAct) -> View:
    plan = await views.plan_or_expired(ctx.session, ctx.tenant, data.a)
    actor = await ctx.actor(Permission.MANAGE_PLANS)
    if data.do == DashDo.PLAN_ARCHIVE and data.stage == Stage.ASK:
        return View(t(ctx.lang, "db_ask_archive", name=plan.name), keyboard(
            [(t(ctx.lang, "btn_confirm"), DashAct(do=DashDo.PLAN_ARCHIVE, a=plan.id, stage=Stage.DO))],
            views.nav(ctx.lang, Dash(to=Page.PLAN, a=plan.id))))
    await bot_plans.set_plan_active(ctx.session, bot_id=ctx.tenant.id, plan_id=plan.id, active=data.do == DashDo.PLAN_RESTORE,
                                    actor=actor)
    return noted(await views.plan(ctx.session, ctx.lang, ctx.tenant, plan.id), t(ctx.lang, "db_saved"))


async def _card_new(ctx: Ctx, data: DashAct) -> View:
    await ctx.actor(Permission.MANAGE_PAYMENT_CARDS)
    return await _ask(ctx, {"kind": "card_new", "fields": {}}, t(ctx.lang, "db_ask_card_number"), Dash(to=Page.CARDS))


async def _card_bank_skip(ctx: Ctx, data: DashAct) -> View:
    pending = await ctx.pending()
    if not pending or pending.get("kind") != "card_new" or set(pending["fields"]) != {"number", "holder"}:
        raise Expired(0)
    return await _input_card(ctx, pending, "")


async def _card_active(ctx: Ctx, data: DashAct) -> View:
    card = await views.card_or_expired(ctx.session, ctx.tenant, data.a)
    await cards.set_card_active(ctx.session, bot_id=ctx.tenant.id, card_id=card.id, active=data.do == DashDo.CARD_ENABLE,
                                actor=await ctx.actor(Permission.MANAGE_PAYMENT_CARDS))
    return noted(await views.card(ctx.session, ctx.lang, ctx.tenant, card.id), t(ctx.lang, "db_saved"))


async def _card_remove(ctx: Ctx, data: DashAct) -> View:
    card = await views.card_or_expired(ctx.session, ctx.tenant, data.a)
    actor = await ctx.actor(Permission.MANAGE_PAYMENT_CARDS)
    if data.stage == Stage.ASK:
        return View(t(ctx.lang, "db_ask_remove_card", number=cards.masked(card.card_number)), keyboard(
            [(t(ctx.lang, "btn_confirm"), DashAct(do=DashDo.CARD_REMOVE, a=card.id, stage=Stage.DO))],
            views.nav(ctx.lang, Dash(to=Page.CARD, a=card.id))))
    await cards.remove_card(ctx.session, bot_id=ctx.tenant.id, card_id=card.id, actor=actor)
    return noted(await views.card_list(ctx.session, ctx.lang, ctx.tenant), t(ctx.lang, "db_saved"))


async def _rotation(ctx: Ctx, data: DashAct) -> View:
    if not 0 <= data.a < len(CARD_ROTATIONS):
        raise Expired(data.a)
    await cards.set_rotation(ctx.session, bot=ctx.tenant, strategy=CARD_ROTATIONS[data.a],
                             actor=await ctx.actor(Permission.MANAGE_PAYMENT_CARDS))
    return await views.card_list(ctx.session, ctx.lang, ctx.tenant)


async def _setting(ctx: Ctx, data: DashAct) -> View:
    await ctx.actor(Permission.MANAGE_PAYMENT_GATEWAYS)
    item = await views.gateway_of(ctx.session, ctx.tenant, data.a)
    if not 0 <= data.b < len(item["settings"]):
        raise Expired(data.b)
    setting = item["settings"][data.b]
    note = t(ctx.lang, "db_secret_note") if setting["secret"] else ""
    return await _ask(ctx, {"kind": "setting", "feature": item["feature"], "key": setting["key"]},
                      t(ctx.lang, "db_ask_setting", setting=setting["key"], secret=note), Dash(to=Page.GATEWAY, a=data.a))


async def _admin_new(ctx: Ctx, data: DashAct) -> View:
    await ctx.actor(Permission.MANAGE_ADMINS)
    return await _ask(ctx, {"kind": "admin_new"}, t(ctx.lang, "db_ask_admin"), Dash(to=Page.ADMINS))


async def _admin_remove(ctx: Ctx, data: DashAct) -> View:
    await ctx.actor(Permission.MANAGE_ADMINS)
    if await ctx.session.get(BotAdmin, (ctx.tenant.id, data.a)) is None:
        raise Expired(data.a)
    if data.stage == Stage.ASK:
        return View(t(ctx.lang, "db_ask_remove_admin", id=data.a), keyboard(
            [(t(ctx.lang, "btn_confirm"), DashAct(do=DashDo.ADMIN_REMOVE, a=data.a, stage=Stage.DO))],
            views.nav(ctx.lang, Dash(to=Page.ADMINS))))
    await remove_admin_as(ctx.session, bot_id=ctx.tenant.id, telegram_user_id=data.a, actor_telegram_id=ctx.user_id,
                          master_admins=ctx.app.settings.master_admin_ids)
    return noted(await views.admins(ctx.session, ctx.lang, ctx.tenant, ctx.role), t(ctx.lang, "db_saved"))


ACTIONS = {
    DashDo.PLAN_NEW: _plan_new, DashDo.PLAN_FIELD: _plan_field, DashDo.PLAN_ARCHIVE: _plan_active, DashDo.PLAN_RESTORE: _plan_active,
    DashDo.CARD_NEW: _card_new, DashDo.CARD_BANK_SKIP: _card_bank_skip, DashDo.CARD_DISABLE: _card_active,
    DashDo.CARD_ENABLE: _card_active, DashDo.CARD_REMOVE: _card_remove, DashDo.ROTATION: _rotation, DashDo.SETTING: _setting,
    DashDo.ADMIN_NEW: _admin_new, DashDo.ADMIN_REMOVE: _admin_remove,
}
MASTER_ACTIONS = frozenset({DashDo.CARD_NEW, DashDo.CARD_BANK_SKIP, DashDo.CARD_DISABLE, DashDo.CARD_ENABLE, DashDo.CARD_REMOVE,
                            DashDo.ROTATION})


@router.callback_query(DashAct.filter(), ACCESS)
async def act(query: CallbackQuery, callback_data: DashAct, **data: Any) -> None:
    """Ask for, or make, a change."""
    ctx = Ctx.of(query.from_user, data)
    await ctx.answer(query, lambda: _act(ctx, callback_data))


async def _act(ctx: Ctx, data: DashAct) -> View:
    if ctx.tenant.is_master and data.do not in MASTER_ACTIONS:
        raise Expired(data.do)
    return await ACTIONS[data.do](ctx, data)


# ----- typed input ---------------------------------------------------------------------------


async def _input_plan_new(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    """The next field of a new plan; after the last one, the plan."""
    actor = await ctx.actor(Permission.MANAGE_PLANS)
    fields = pending["fields"]
    step = PLAN_STEPS[len(fields)]
    parse = {"name": bot_plans.parse_name, "period": bot_plans.parse_period_days, "price": bot_plans.parse_price,
             "traffic": bot_plans.parse_traffic_gb, "devices": bot_plans.parse_device_limit}[step]
    fields[step] = parse(text)
    if step == "name":
        await bot_plans.check_name_free(ctx.session, bot_id=ctx.tenant.id, name=fields["name"])
    if len(fields) < len(PLAN_STEPS):
        return await _ask(ctx, pending, t(ctx.lang, f"db_ask_plan_{PLAN_STEPS[len(fields)]}"), Dash(to=Page.PLANS))
    plan = await bot_plans.create_plan(ctx.session, bot_id=ctx.tenant.id, name=fields["name"], period_days=fields["period"],
                                       price_kopeks=fields["price"], traffic_gb=fields["traffic"], device_limit=fields["devices"],
                                       actor=actor)
    await ctx.wait_for(None)
    return noted(await views.plan(ctx.session, ctx.lang, ctx.tenant, plan.id), t(ctx.lang, "db_plan_created", name=plan.name))


async def _input_plan_field(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    field = pending["field"]
    actor = await ctx.actor(_field_permission(field))
    plan = await views.plan_or_expired(ctx.session, ctx.tenant, pending["plan_id"])
    change = {"price": ("price_kopeks", bot_plans.parse_price), "period": ("period_days", bot_plans.parse_period_days),
              "traffic": ("traffic_gb", bot_plans.parse_traffic_gb), "devices": ("device_limit", bot_plans.parse_device_limit)}
    argument, parse = change[field]
    await bot_plans.edit_plan(ctx.session, bot_id=ctx.tenant.id, plan_id=plan.id, actor=actor, **{argument: parse(text)})
    await ctx.wait_for(None)
    return noted(await views.plan(ctx.session, ctx.lang, ctx.tenant, plan.id), t(ctx.lang, "db_saved"))


async def _input_card(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    """The next field of a new card; after the bank (or Skip), the card."""
    actor = await ctx.actor(Permission.MANAGE_PAYMENT_CARDS)
    fields = pending["fields"]
    step = CARD_STEPS[len(fields)]
    if step == "number":
        fields["number"] = cards.card_number(text)
    elif step == "holder":
        fields["holder"] = cards.holder_name(text)
    else:
        fields["bank"] = text
    if len(fields) < len(CARD_STEPS):
        skip = [(t(ctx.lang, "btn_skip"), DashAct(do=DashDo.CARD_BANK_SKIP, stage=Stage.DO))] if len(fields) == 2 else []
        return await _ask(ctx, pending, t(ctx.lang, f"db_ask_card_{CARD_STEPS[len(fields)]}"), Dash(to=Page.CARDS), skip)
    card = await cards.add_card(ctx.session, bot_id=ctx.tenant.id, number=fields["number"], holder=fields["holder"],
                                bank=fields["bank"], actor=actor)
    await ctx.wait_for(None)
    return noted(await views.card_list(ctx.session, ctx.lang, ctx.tenant),
                 t(ctx.lang, "db_card_added", number=cards.masked(card.card_number)))


async def _input_setting(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    actor = await ctx.actor(Permission.MANAGE_PAYMENT_GATEWAYS)
    await set_gateway_value(ctx.session, bot_id=ctx.tenant.id, feature=pending["feature"], key=pending["key"], value=text,
                            box=ctx.app.secret_box, actor=actor)
    await ctx.wait_for(None)
    return noted(await views.gateway_screen(ctx.session, ctx.lang, ctx.tenant, views.fid(pending["feature"])), t(ctx.lang, "db_saved"))


async def _input_admin(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    digits = normalize_digits(text).strip()
    if not digits.isascii() or not digits.isdigit() or len(digits) > 15:
        raise Invalid(t(ctx.lang, "db_ask_admin"))
    admin = await add_admin_as(ctx.session, bot_id=ctx.tenant.id, telegram_user_id=int(digits), actor_telegram_id=ctx.user_id,
                               master_admins=ctx.app.settings.master_admin_ids)
    await ctx.wait_for(None)
    return noted(await views.admins(ctx.session, ctx.lang, ctx.tenant, ctx.role),
                 t(ctx.lang, "db_admin_added", id=admin.telegram_user_id))


INPUTS = {"plan_new": _input_plan_new, "plan_field": _input_plan_field, "card_new": _input_card, "setting": _input_setting,
          "admin_new": _input_admin}


@router.message(Command("cancel"), not_registering, waiting_filter(Ctx.PENDING), ACCESS)
async def cancel(message: Message, **data: Any) -> None:
    """/cancel while the dashboard waits for input: stop waiting, back home."""
    ctx = Ctx.of(message.from_user, data)
    await ctx.wait_for(None)
    await ctx.answer(message, lambda: _cancelled(ctx))


async def _cancelled(ctx: Ctx) -> View:
    return noted(await _home(ctx), t(ctx.lang, "db_cancelled"))


@router.message(F.text & ~F.text.startswith("/"), not_registering, waiting_filter(Ctx.PENDING), ACCESS)
async def typed(message: Message, pending: dict[str, Any], **data: Any) -> None:
    """The input the dashboard asked for; a wrong one is refused with its reason and asked again."""
    ctx = Ctx.of(message.from_user, data)
    await ctx.answer(message, partial(_input, ctx, pending, message.text))


async def _input(ctx: Ctx, pending: dict[str, Any], text: str) -> View:
    if pending.get("kind") not in INPUTS:  # from an older version of the dashboard
        await ctx.wait_for(None)
        raise Expired(pending.get("kind"))
    return await INPUTS[pending["kind"]](ctx, pending, text)
