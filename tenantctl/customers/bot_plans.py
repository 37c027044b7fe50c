"""The VPN plans a tenant sells to its own end users (`bot_plans`): listed, created, edited, archived.

Every function takes the bot the plans belong to; a plan id is only ever looked up within that bot.
Prices are integer kopeks (minor units); a person types them in major units (`parse_price`).
The `parse_*` helpers read one form field as typed (Persian and Arabic-Indic digits accepted) and
raise Invalid with a message meant for that person.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.core.money import normalize_digits, parse_rubles
from tenantctl.customers.models import BotPlan

NAME_MAX = 100
PERIOD_DAYS = (1, 3650)
TRAFFIC_GB = (0, 100_000)  # 0: unlimited
DEVICES = (1, 100)
MAX_PRICE_KOPEKS = 1_000_000_000  # 10 000 000.00 in major units; the column is a 32-bit integer
MAX_ID = 2**31 - 1  # an id beyond the column's range names no plan

ACTIVE_PLAN = exists().where(BotPlan.bot_id == bindparam("bot_id"), BotPlan.is_active.is_(True))
"""Whether the bot (the `bot_id` parameter) offers a plan, as a column to select."""


def parse_name(text: str) -> str:
    """A plan name: 1 to 100 characters, surrounding spaces dropped."""
    name = (text or "").strip()
    if not name:
        raise Invalid("the plan name is required")
    if len(name) > NAME_MAX:
        raise Invalid(f"the plan name is too long, at most {NAME_MAX} characters")
    return name


def _whole(text: str | int, what: str, bounds: tuple[int, int]) -> int:
    """A whole number within bounds, from text or an int; Invalid names the field and its range."""
    low, high = bounds
    raw = normalize_digits(str(text)).strip()
    number = int(raw) if raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 12 else None
    if number is None or not low <= number <= high:
        raise Invalid(f"{what} is a whole number from {low} to {high}, not {str(text).strip() or 'empty'!r}")
    return number


def parse_period_days(text: str | int) -> int:
    """A plan's period in days: 1 to 3650."""
    return _whole(text, "the period (days)", PERIOD_DAYS)


def parse_traffic_gb(text: str | int) -> int:
    """A plan's traffic in GB: 0 (unlimited) to 100000."""
    return _whole(text, "the traffic (GB, 0 for unlimited)", TRAFFIC_GB)


def parse_device_limit(text: str | int) -> int:
    """How many devices a plan allows: 1 to 100."""
    return _whole(text, "the device limit", DEVICES)


def parse_price(text: str) -> int:
    """A price in major units with up to 2 decimals ('199', '199.90', '۱۹۹٫۹۰') as kopeks, 0 to 10 000 000."""
    try:
        kopeks = parse_rubles(str(text).replace("٫", "."))  # the Persian decimal separator
    except Invalid:
        raise Invalid(f"the price is an amount like 199 or 199.90 (at most 2 decimals), not {str(text).strip() or 'empty'!r}") from None
    return check_price(kopeks)


def check_price(kopeks: int) -> int:
    """A price in kopeks within 0 and MAX_PRICE_KOPEKS."""
    if not 0 <= kopeks <= MAX_PRICE_KOPEKS:
        raise Invalid(f"the price is from 0 to {price_text(MAX_PRICE_KOPEKS)}")
    return kopeks


def price_text(kopeks: int) -> str:
    """Kopeks in major units as typed: 19990 -> '199.90'."""
    return f"{kopeks // 100}.{kopeks % 100:02d}"


def plan_as_dict(plan: BotPlan) -> dict[str, Any]:
    """JSON-ready form of a plan."""
    return {"id": plan.id, "name": plan.name, "period_days": plan.period_days, "price_kopeks": plan.price_kopeks,
            "price": price_text(plan.price_kopeks), "traffic_gb": plan.traffic_limit_gb, "device_limit": plan.device_limit,
            "active": plan.is_active}


async def list_plans(session: AsyncSession, *, bot_id: int, include_archived: bool = True) -> list[BotPlan]:
    """The bot's plans, active first, then in display order; without archived ones, those it offers."""
    query = select(BotPlan).where(BotPlan.bot_id == bot_id)
    if not include_archived:
        query = query.where(BotPlan.is_active.is_(True))
    return list((await session.scalars(query.order_by(BotPlan.is_active.desc(), BotPlan.sort_order, BotPlan.id))).all())


async def get_plan(session: AsyncSession, *, bot_id: int, plan_id: int) -> BotPlan:
    """The bot's plan `plan_id` (NotFound for another bot's plan, as for none)."""
    plan = None
    if 0 < plan_id <= MAX_ID:
        plan = await session.scalar(select(BotPlan).where(BotPlan.id == plan_id, BotPlan.bot_id == bot_id))
    if plan is None:
        raise NotFound(f"no plan {plan_id} on this bot")
    return plan


async def check_name_free(session: AsyncSession, *, bot_id: int, name: str, plan_id: int | None = None) -> None:
    """Conflict when another plan of the bot has this name (whatever its case)."""
    query = select(BotPlan.id).where(BotPlan.bot_id == bot_id, func.lower(BotPlan.name) == name.lower())
    if plan_id is not None:
        query = query.where(BotPlan.id != plan_id)
    if await session.scalar(query) is not None:
        raise Conflict(f"this bot already has a plan named {name!r}")


async def create_plan(session: AsyncSession, *, bot_id: int, name: str, period_days: int, price_kopeks: int,
                      traffic_gb: int, device_limit: int, actor: str) -> BotPlan:
    """Add a plan the bot offers at once (names are unique per bot, whatever their case)."""
    name = parse_name(name)
    plan = BotPlan(bot_id=bot_id, name=name, period_days=parse_period_days(period_days), price_kopeks=check_price(price_kopeks),
                   traffic_limit_gb=parse_traffic_gb(traffic_gb), device_limit=parse_device_limit(device_limit))
    await check_name_free(session, bot_id=bot_id, name=name)
    plan.sort_order = (await session.scalar(select(func.coalesce(func.max(BotPlan.sort_order), 0)).where(BotPlan.bot_id == bot_id))) + 1
    session.add(plan)
    await session.flush()
    await record(session, actor=actor, action="bot_plan.create", entity=f"bot_plan:{plan.id}", bot_id=bot_id, after=plan_as_dict(plan))
    return plan


async def edit_plan(session: AsyncSession, *, bot_id: int, plan_id: int, actor: str, name: str | None = None,
                    period_days: int | None = None, price_kopeks: int | None = None, traffic_gb: int | None = None,
                    device_limit: int | None = None) -> BotPlan:
    """Change a plan's name, period, price or limits (only what is given); subscriptions already sold keep theirs."""
    if all(value is None for value in (name, period_days, price_kopeks, traffic_gb, device_limit)):
        raise Invalid("nothing to change: give a name, period, price, traffic or device limit")
    plan = await get_plan(session, bot_id=bot_id, plan_id=plan_id)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = parse_name(name)
        if changes["name"] != plan.name:
            await check_name_free(session, bot_id=bot_id, name=changes["name"], plan_id=plan.id)
    if period_days is not None:
        changes["period_days"] = parse_period_days(period_days)
    if price_kopeks is not None:
        changes["price_kopeks"] = check_price(price_kopeks)
    if traffic_gb is not None:
        changes["traffic_limit_gb"] = parse_traffic_gb(traffic_gb)
    if device_limit is not None:
        changes["device_limit"] = parse_device_limit(device_limit)
    before = plan_as_dict(plan)
    for column, value in changes.items():
        setattr(plan, column, value)
    await session.flush()
    after = plan_as_dict(plan)
    if after != before:
        await record(session, actor=actor, action="bot_plan.edit", entity=f"bot_plan:{plan.id}", bot_id=bot_id,
                     before={k: v for k, v in before.items() if after[k] != v}, after={k: v for k, v in after.items() if before[k] != v})
    return plan


async def set_plan_active(session: AsyncSession, *, bot_id: int, plan_id: int, active: bool, actor: str) -> BotPlan:
    """Archive a plan (no longer offered; kept for the subscriptions sold on it) or offer it again."""
    plan = await get_plan(session, bot_id=bot_id, plan_id=plan_id)
    if plan.is_active != active:
        plan.is_active = active
        await session.flush()
        await record(session, actor=actor, action="bot_plan.unarchive" if active else "bot_plan.archive", entity=f"bot_plan:{plan.id}",
                     bot_id=bot_id, before={"active": not active}, after={"active": active})
    return plan
