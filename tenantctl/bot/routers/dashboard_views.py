"""The tenant dashboard's buttons and screens: CallbackData factories, and one function per screen.

Screens only read (through the services) and render; the handlers in `dashboard` make the changes.
The callback data never names the bot: the bot is the tenant bot the update came to, or on the
master bot the one chosen in /my_bots (kept server-side). Plan and card ids in the data are looked
up within that bot only; a gone or foreign one raises `Expired`.
"""

from __future__ import annotations

import zlib
from enum import StrEnum
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.bot import screens
from tenantctl.bot.keyboards import MyBot, Row, keyboard
from tenantctl.bot.locales import MESSAGES, money, number, t, traffic
from tenantctl.bot.screens import Expired, Stage, View, or_expired, page_of, pager
from tenantctl.customers import bot_plans, cards
from tenantctl.customers.models import BotPlan, TenantPaymentCard
from tenantctl.stats.dashboard import Compared, Dashboard, resolve_period, tenant_dashboard
from tenantctl.tenants import gateway
from tenantctl.tenants.admins import list_admins
from tenantctl.tenants.models import CARD_ROTATIONS, Bot
from tenantctl.tenants.permissions import ROLE_PERMISSIONS, Permission

PERIODS = ("today", "7d", "30d", "month", "all")
MASTER_PAGES = frozenset({"h", "cs", "cd"})  # what a master admin manages of the master bot here: its cards
PLAN_FIELDS = ("price", "period", "traffic", "devices")  # what a plan's edit buttons change, by index


class Page(StrEnum):
    HOME = "h"
    STATS = "s"  # a: the period's index in PERIODS
    CHART = "c"  # a: 0 income, 1 traffic
    PLANS = "p"  # a: page
    PLAN = "pl"  # a: plan id
    CARDS = "cs"  # a: page
    CARD = "cd"  # a: card id
    GATEWAYS = "g"
    GATEWAY = "gf"  # a: feature id (CRC-32 of its key)
    ADMINS = "ad"


class Dash(CallbackData, prefix="db"):
    """Open a dashboard screen."""

    to: Page
    a: int = 0


class DashDo(StrEnum):
    PLAN_NEW = "pn"
    PLAN_FIELD = "pf"  # a: plan id, b: index in PLAN_FIELDS
    PLAN_ARCHIVE = "pa"  # a: plan id
    PLAN_RESTORE = "pr"  # a: plan id
    CARD_NEW = "cn"
    CARD_BANK_SKIP = "cb"
    CARD_DISABLE = "c0"  # a: card id
    CARD_ENABLE = "c1"  # a: card id
    CARD_REMOVE = "cr"  # a: card id
    ROTATION = "ro"  # a: index in CARD_ROTATIONS
    SETTING = "gs"  # a: feature id, b: index of the key in the feature's settings
    ADMIN_NEW = "an"
    ADMIN_REMOVE = "ar"  # a: the admin's Telegram user id


class DashAct(CallbackData, prefix="dx"):
    """A dashboard action: at stage ASK it asks (a confirmation or an input), at DO it is made."""

    do: DashDo
    a: int = 0
    b: int = 0
    stage: Stage = Stage.ASK


HOME = Dash(to=Page.HOME)


def nav(lang: str, back: CallbackData) -> Row:
    """Back and Home (the dashboard's), at the bottom of every screen."""
    return screens.nav(lang, back, HOME)


def fid(key: str) -> int:
    """A feature's id in callback data: the CRC-32 of its key."""
    return zlib.crc32(key.encode())


def may(role: str, permission: Permission) -> bool:
    """Whether the role holds the permission (which buttons a screen offers; handlers check again)."""
    return permission in ROLE_PERMISSIONS[role]


# ----- home and statistics -------------------------------------------------------------------


async def home(session: AsyncSession, lang: str, bot: Bot, role: str, *, on_master: bool) -> View:
    """The bot's name and three figures, and a button per section the role may open (the master bot: its cards)."""
    if bot.is_master:
        return View(t(lang, "db_home_master", name=bot.name), keyboard([(t(lang, "db_btn_cards"), Dash(to=Page.CARDS))]))
    figures = await tenant_dashboard(session, bot_id=bot.id, period=resolve_period("30d"))
    sections: list[Row] = [[(t(lang, "db_btn_stats"), Dash(to=Page.STATS, a=PERIODS.index("30d")))]]
    if may(role, Permission.MANAGE_PLANS):
        sections.append([(t(lang, "db_btn_plans"), Dash(to=Page.PLANS))])
    if may(role, Permission.MANAGE_PAYMENT_CARDS):
        sections.append([(t(lang, "db_btn_cards"), Dash(to=Page.CARDS))])
    if may(role, Permission.MANAGE_PAYMENT_GATEWAYS):
        sections.append([(t(lang, "db_btn_gateways"), Dash(to=Page.GATEWAYS))])
    sections.append([(t(lang, "db_btn_admins"), Dash(to=Page.ADMINS))])
    if on_master:
        sections.append([(t(lang, "db_btn_my_bots"), MyBot(bot_id=0))])
    text = t(lang, "db_home", name=bot.name, users=number(lang, figures.users.total.current or 0),
             active=number(lang, figures.subscriptions.active), income=money(lang, int(figures.revenue.income.current or 0)))
    return View(text, keyboard(*sections))


def _n(lang: str, figure: Compared | int | float | None, render=None) -> str:
    """A figure (or its current value) for people; — when there is none."""
    value = figure.current if isinstance(figure, Compared) else figure
    if value is None:
        return "—"
    return render(lang, int(value)) if render else number(lang, value)


def _prev(lang: str, figure: Compared, render=None) -> str:
    return _n(lang, figure.previous, render)


def _ratio(lang: str, ratio: float | None) -> str:
    return "—" if ratio is None else f"{number(lang, ratio * 100, 1)}%"


def _method(lang: str, method: str) -> str:
    """A payment method's name for people (as stored when there is no text for it)."""
    return t(lang, f"db_method_{method}") if f"db_method_{method}" in MESSAGES else method


def stats_text(lang: str, bot: Bot, figures: Dashboard, period: str) -> str:
    """Every figure of the period, each beside the previous period's."""
    users, subs, revenue, traffic_ = figures.users, figures.subscriptions, figures.revenue, figures.traffic
    lines = [
        t(lang, "db_stats_title", name=bot.name, period=t(lang, f"db_period_{period}")),
        "",
        t(lang, "db_stats_users", total=_n(lang, users.total), active=_n(lang, users.active), blocked=_n(lang, users.blocked),
          new_today=_n(lang, users.new_today), new_7d=_n(lang, users.new_7d), new_30d=_n(lang, users.new_30d),
          new=_n(lang, users.new), new_prev=_prev(lang, users.new)),
        "",
        t(lang, "db_stats_subscriptions", active=_n(lang, subs.active), trial=_n(lang, subs.trial), paid=_n(lang, subs.paid),
          expired=_n(lang, subs.expired), exp3=_n(lang, subs.expiring_3d), exp7=_n(lang, subs.expiring_7d),
          conversion=_ratio(lang, subs.conversion.current), purchases=_n(lang, subs.purchases),
          purchases_prev=_prev(lang, subs.purchases), renewals=_n(lang, subs.renewals), renewals_prev=_prev(lang, subs.renewals)),
        "",
        t(lang, "db_stats_revenue", income=_n(lang, revenue.income, money), income_prev=_prev(lang, revenue.income, money),
          refunds=_n(lang, revenue.refunds, money), withdrawals=_n(lang, revenue.withdrawals, money),
          profit=_n(lang, revenue.profit, money), profit_prev=_prev(lang, revenue.profit, money), arpu=_n(lang, revenue.arpu, money),
          share=number(lang, revenue.revenue_share_percent), commission=_n(lang, revenue.commission, money),
          net=_n(lang, revenue.net, money)),
        *(t(lang, "db_stats_method", method=_method(lang, row.method), count=number(lang, row.count), amount=money(lang, row.amount_kopeks))
          for row in revenue.by_method),
        "",
        t(lang, "db_stats_traffic", consumed=_n(lang, traffic_.consumed_bytes, traffic),
          consumed_prev=_prev(lang, traffic_.consumed_bytes, traffic), sold=_n(lang, traffic_.sold_bytes, traffic),
          ratio=_ratio(lang, traffic_.sold_to_consumed)),
    ]
    return "\n".join(lines)


async def stats(session: AsyncSession, lang: str, bot: Bot, period_index: int) -> View:
    """The statistics of one period, with a button per period and the two charts."""
    if not 0 <= period_index < len(PERIODS):
        raise Expired(period_index)
    period = PERIODS[period_index]
    figures = await tenant_dashboard(session, bot_id=bot.id, period=resolve_period(period))
    periods: Row = [(("• " if i == period_index else "") + t(lang, f"db_period_{name}"), Dash(to=Page.STATS, a=i))
                    for i, name in enumerate(PERIODS)]
    return View(stats_text(lang, bot, figures, period), keyboard(
        periods[:3], periods[3:],
        [(t(lang, "db_btn_income_chart"), Dash(to=Page.CHART, a=0)), (t(lang, "db_btn_traffic_chart"), Dash(to=Page.CHART, a=1))],
        nav(lang, HOME),
    ))


async def chart(session: AsyncSession, lang: str, bot: Bot, kind: int) -> View:
    """The last 30 days of income (0) or traffic (1) as a PNG picture."""
    from tenantctl.stats.charts import income_chart_png, traffic_chart_png

    if kind not in (0, 1):
        raise Expired(kind)
    figures = await tenant_dashboard(session, bot_id=bot.id, period=resolve_period("30d"))
    png = (income_chart_png if kind == 0 else traffic_chart_png)(figures.daily)
    caption = t(lang, "db_chart_income" if kind == 0 else "db_chart_traffic", name=bot.name)
    return View(caption, keyboard(nav(lang, Dash(to=Page.STATS, a=PERIODS.index("30d")))),
                photo=BufferedInputFile(png, filename="chart.png"))


# ----- plans ---------------------------------------------------------------------------------


def plan_line(lang: str, plan: BotPlan) -> str:
    return t(lang, "db_plan_line", name=plan.name, price=money(lang, plan.price_kopeks), days=number(lang, plan.period_days),
             traffic=f"{number(lang, plan.traffic_limit_gb)} GB" if plan.traffic_limit_gb else t(lang, "db_unlimited"),
             devices=number(lang, plan.device_limit), archived="" if plan.is_active else t(lang, "db_archived"))


async def plan_or_expired(session: AsyncSession, bot: Bot, plan_id: int) -> BotPlan:
    """The bot's plan the button names, else Expired."""
    return await or_expired(bot_plans.get_plan(session, bot_id=bot.id, plan_id=plan_id), plan_id)


async def plans(session: AsyncSession, lang: str, bot: Bot, page: int = 0) -> View:
    """The bot's plans, a page at a time, each opening its own screen, and New plan."""
    rows = await bot_plans.list_plans(session, bot_id=bot.id)
    chunk, page, count = page_of(rows, page)
    text = "\n".join([t(lang, "db_plans", name=bot.name), *(f"• {plan_line(lang, plan)}" for plan in chunk)]
                     or [t(lang, "db_nothing")])
    return View(text if chunk else f"{text}\n{t(lang, 'db_nothing')}", keyboard(
        *([(plan.name, Dash(to=Page.PLAN, a=plan.id))] for plan in chunk),
        pager(page, count, lambda p: Dash(to=Page.PLANS, a=p)),
        [(t(lang, "db_btn_add_plan"), DashAct(do=DashDo.PLAN_NEW))],
        nav(lang, HOME),
    ))


async def plan(session: AsyncSession, lang: str, bot: Bot, plan_id: int) -> View:
    """One plan, with its edit buttons and Archive (or Restore)."""
    found = await plan_or_expired(session, bot, plan_id)
    edit = [(t(lang, f"db_btn_{field}"), DashAct(do=DashDo.PLAN_FIELD, a=found.id, b=i)) for i, field in enumerate(PLAN_FIELDS)]
    archive = (DashAct(do=DashDo.PLAN_ARCHIVE, a=found.id) if found.is_active
               else DashAct(do=DashDo.PLAN_RESTORE, a=found.id, stage=Stage.DO))
    return View(plan_line(lang, found), keyboard(
        edit[:2], edit[2:],
        [(t(lang, "db_btn_archive" if found.is_active else "db_btn_restore"), archive)],
        nav(lang, Dash(to=Page.PLANS)),
    ))


def plan_field_now(lang: str, plan: BotPlan, field: str) -> str:
    """A plan's current value of an editable field, for the question that asks for a new one."""
    return {"price": lambda: money(lang, plan.price_kopeks), "period": lambda: number(lang, plan.period_days),
            "traffic": lambda: number(lang, plan.traffic_limit_gb), "devices": lambda: number(lang, plan.device_limit)}[field]()


# ----- cards ---------------------------------------------------------------------------------


def card_line(lang: str, card: TenantPaymentCard) -> str:
    return t(lang, "db_card_line", number=cards.masked(card.card_number), holder=card.holder_name,
             bank=f" ({card.bank_name})" if card.bank_name else "", state=t(lang, "db_card_on" if card.is_active else "db_card_off"),
             uses=number(lang, card.usage_count))


async def card_or_expired(session: AsyncSession, bot: Bot, card_id: int) -> TenantPaymentCard:
    """The bot's card the button names, else Expired."""
    return await or_expired(cards.get_card(session, bot_id=bot.id, card_id=card_id), card_id)


async def card_list(session: AsyncSession, lang: str, bot: Bot, page: int = 0) -> View:
    """The bot's cards, masked, a page at a time; Add and the rotation strategy."""
    rows = await cards.list_cards(session, bot_id=bot.id)
    chunk, page, count = page_of(rows, page)
    rotation = t(lang, f"db_rotation_{bot.card_rotation}")
    lines = [t(lang, "db_cards", name=bot.name, rotation=rotation), *(f"• {card_line(lang, card)}" for card in chunk)]
    if not chunk:
        lines.append(t(lang, "db_nothing"))
    rotations: Row = [(("• " if name == bot.card_rotation else "") + t(lang, f"db_rotation_{name}"),
                       DashAct(do=DashDo.ROTATION, a=i, stage=Stage.DO)) for i, name in enumerate(CARD_ROTATIONS)]
    return View("\n".join(lines), keyboard(
        *([(cards.masked(card.card_number), Dash(to=Page.CARD, a=card.id))] for card in chunk),
        pager(page, count, lambda p: Dash(to=Page.CARDS, a=p)),
        [(t(lang, "db_btn_add_card"), DashAct(do=DashDo.CARD_NEW))],
        rotations,
        nav(lang, HOME),
    ))


async def card(session: AsyncSession, lang: str, bot: Bot, card_id: int) -> View:
    """One card, with Disable (or Enable) and Remove."""
    found = await card_or_expired(session, bot, card_id)
    toggle = (DashDo.CARD_DISABLE, "db_btn_disable") if found.is_active else (DashDo.CARD_ENABLE, "db_btn_enable")
    return View(card_line(lang, found), keyboard(
        [(t(lang, toggle[1]), DashAct(do=toggle[0], a=found.id, stage=Stage.DO)),
         (t(lang, "db_btn_remove"), DashAct(do=DashDo.CARD_REMOVE, a=found.id))],
        nav(lang, Dash(to=Page.CARDS)),
    ))


# ----- payment settings ----------------------------------------------------------------------


async def gateways(session: AsyncSession, lang: str, bot: Bot) -> View:
    """The payment methods effectively on for the bot that have settings, each opening its settings."""
    features = [item for item in await gateway.gateway_settings(session, bot_id=bot.id) if item["settings"]]
    lines = [t(lang, "db_gateways", name=bot.name)] + ([] if features else [t(lang, "db_nothing")])
    return View("\n".join(lines), keyboard(
        *([(item["feature"], Dash(to=Page.GATEWAY, a=fid(item["feature"])))] for item in features),
        nav(lang, HOME),
    ))


async def gateway_of(session: AsyncSession, bot: Bot, feature_id: int) -> dict[str, Any]:
    """The settings of the gateway the button names, while it is on for the bot; else Expired."""
    for item in await gateway.gateway_settings(session, bot_id=bot.id):
        if fid(item["feature"]) == feature_id:
            return item
    raise Expired(feature_id)


async def gateway_screen(session: AsyncSession, lang: str, bot: Bot, feature_id: int) -> View:
    """One gateway's settings: values, secrets only as set or not set; a button per setting."""
    item = await gateway_of(session, bot, feature_id)
    lines = [t(lang, "db_gateway", feature=item["feature"])]
    for setting in item["settings"]:
        shown = t(lang, "db_set" if setting["set"] else "db_unset") if setting["secret"] else setting.get("value") or "—"
        lines.append(f"• {setting['key']} = {shown}")
    return View("\n".join(lines), keyboard(
        *([(setting["key"], DashAct(do=DashDo.SETTING, a=feature_id, b=i))] for i, setting in enumerate(item["settings"])),
        nav(lang, Dash(to=Page.GATEWAYS)),
    ))


# ----- admins --------------------------------------------------------------------------------


async def admins(session: AsyncSession, lang: str, bot: Bot, role: str) -> View:
    """The bot's admins, owner first; for whoever may manage them, Add and a Remove per admin."""
    rows = await list_admins(session, bot_id=bot.id)
    manage = may(role, Permission.MANAGE_ADMINS)
    lines = [t(lang, "db_admins", name=bot.name),
             *(t(lang, "db_admin_line", id=admin.telegram_user_id, role=t(lang, f"db_role_{admin.role}")) for admin in rows)]
    removable = [admin for admin in rows if admin.role != "owner"] if manage else []
    return View("\n".join(lines), keyboard(
        *([(f"{t(lang, 'db_btn_remove')} {admin.telegram_user_id}",
            DashAct(do=DashDo.ADMIN_REMOVE, a=admin.telegram_user_id))] for admin in removable),
        [(t(lang, "db_btn_add_admin"), DashAct(do=DashDo.ADMIN_NEW))] if manage else [],
        nav(lang, HOME),
    ))
