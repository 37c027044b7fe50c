"""A tenant's own plans (`bot_plans`): the form's fields, the service, and one tenant never reaching another's rows.

On SQLite and PostgreSQL (the `app` fixture).
"""

from __future__ import annotations

import secrets

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tenantctl.audit.models import AuditEntry
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.customers import bot_plans, cards
from tenantctl.customers.models import BotPlan, TenantPaymentCard
from tenantctl.tenants.models import Bot

VISA, MIR = "4111111111111111", "2200000000000004"


async def two_bots(app) -> tuple[int, int]:
    """Two tenant bots with nothing else."""
    async with app.unit_of_work() as session:
        bots = [Bot(name=f"shop {n}", token_encrypted="x", token_fingerprint=secrets.token_hex(32), status="active") for n in (1, 2)]
        session.add_all(bots)
        await session.flush()
        return bots[0].id, bots[1].id


async def add(session, bot_id: int, name: str = "Monthly", **fields) -> BotPlan:
    values = {"period_days": 30, "price_kopeks": 19900, "traffic_gb": 0, "device_limit": 1, **fields}
    return await bot_plans.create_plan(session, bot_id=bot_id, name=name, actor="tg:501", **values)


async def rows(session, model, bot_id: int | None = None) -> list[tuple]:
    """Every row of a table (of one bot's, if given) as tuples of its column values, by id."""
    columns = [c.key for c in model.__table__.columns if c.key not in ("created_at", "updated_at")]
    query = select(model).order_by(model.id)
    if bot_id is not None:
        query = query.where(model.bot_id == bot_id)
    return [tuple(getattr(r, c) for c in columns) for r in (await session.scalars(query)).all()]


@pytest.mark.parametrize("parse, text, message", [
    (bot_plans.parse_name, "", "the plan name is required"),
    (bot_plans.parse_name, "   ", "the plan name is required"),
    (bot_plans.parse_name, "x" * 101, "the plan name is too long, at most 100 characters"),
    (bot_plans.parse_period_days, "0", "the period (days) is a whole number from 1 to 3650, not '0'"),
    (bot_plans.parse_period_days, "3651", "the period (days) is a whole number from 1 to 3650, not '3651'"),
    (bot_plans.parse_period_days, "30.5", "the period (days) is a whole number from 1 to 3650, not '30.5'"),
    (bot_plans.parse_period_days, "-1", "the period (days) is a whole number from 1 to 3650, not '-1'"),
    (bot_plans.parse_period_days, "month", "the period (days) is a whole number from 1 to 3650, not 'month'"),
    (bot_plans.parse_period_days, "", "the period (days) is a whole number from 1 to 3650, not 'empty'"),
    (bot_plans.parse_period_days, "9" * 5000, "the period (days) is a whole number from 1 to 3650"),
    (bot_plans.parse_price, "-1", "the price is an amount like 199 or 199.90 (at most 2 decimals), not '-1'"),
    (bot_plans.parse_price, "199.999", "the price is an amount like 199 or 199.90 (at most 2 decimals), not '199.999'"),
    (bot_plans.parse_price, "free", "the price is an amount like 199 or 199.90 (at most 2 decimals), not 'free'"),
    (bot_plans.parse_price, "", "the price is an amount like 199 or 199.90 (at most 2 decimals), not 'empty'"),
    (bot_plans.parse_price, "10000000.01", "the price is from 0 to 10000000.00"),
    (bot_plans.parse_traffic_gb, "-5", "the traffic (GB, 0 for unlimited) is a whole number from 0 to 100000, not '-5'"),
    (bot_plans.parse_traffic_gb, "100001", "the traffic (GB, 0 for unlimited) is a whole number from 0 to 100000, not '100001'"),
    (bot_plans.parse_traffic_gb, "lots", "the traffic (GB, 0 for unlimited) is a whole number from 0 to 100000, not 'lots'"),
    (bot_plans.parse_device_limit, "0", "the device limit is a whole number from 1 to 100, not '0'"),
    (bot_plans.parse_device_limit, "101", "the device limit is a whole number from 1 to 100, not '101'"),
    (bot_plans.parse_device_limit, "²", "the device limit is a whole number from 1 to 100, not '²'"),
])
def test_every_invalid_field_is_refused_with_its_message(parse, text, message) -> None:
    with pytest.raises(Invalid) as refused:
        parse(text)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize("parse, text, expected", [
    (bot_plans.parse_name, "  Gold  ", "Gold"),
    (bot_plans.parse_name, "x" * 100, "x" * 100),
    (bot_plans.parse_period_days, "۳۰", 30),  # Persian
    (bot_plans.parse_period_days, "٣٦٥٠", 3650),  # Arabic-Indic
    (bot_plans.parse_period_days, " 1 ", 1),
    (bot_plans.parse_price, "199", 19900),
    (bot_plans.parse_price, "199.90", 19990),
    (bot_plans.parse_price, "199,9", 19990),
    (bot_plans.parse_price, "۱۹۹", 19900),
    (bot_plans.parse_price, "۱۹۹٫۹۰", 19990),  # with the Persian decimal separator
    (bot_plans.parse_price, "١٩٩.٥", 19950),
    (bot_plans.parse_price, "0", 0),
    (bot_plans.parse_price, "10000000", 1_000_000_000),
    (bot_plans.parse_traffic_gb, "0", 0),
    (bot_plans.parse_traffic_gb, "۱۰۰۰۰۰", 100_000),
    (bot_plans.parse_device_limit, "۵", 5),
    (bot_plans.parse_device_limit, "100", 100),
])
def test_fields_as_people_type_them(parse, text, expected) -> None:
    assert parse(text) == expected


async def test_plans_are_created_in_kopeks_listed_active_first_edited_and_archived(app) -> None:
    bot_id, other = await two_bots(app)
    async with app.unit_of_work() as session:
        monthly = await add(session, bot_id, "Monthly", price_kopeks=bot_plans.parse_price("۱۹۹٫۹۰"),
                            period_days=bot_plans.parse_period_days("۳۰"), traffic_gb=50, device_limit=3)
        yearly = await add(session, bot_id, "Yearly", period_days=365, price_kopeks=199000)
        await add(session, other, "Monthly")  # the same name on another bot is fine
    async with app.unit_of_work() as session:
        stored = await session.get(BotPlan, monthly.id)
        assert (stored.price_kopeks, stored.period_days, stored.traffic_limit_gb, stored.device_limit) == (19990, 30, 50, 3)
        await bot_plans.set_plan_active(session, bot_id=bot_id, plan_id=monthly.id, active=False, actor="tg:501")
        await bot_plans.set_plan_active(session, bot_id=bot_id, plan_id=monthly.id, active=False, actor="tg:501")  # no change
        listed = [(p["name"], p["active"], p["price"]) for p in map(bot_plans.plan_as_dict, await bot_plans.list_plans(session, bot_id=bot_id))]
        assert listed == [("Yearly", True, "1990.00"), ("Monthly", False, "199.90")]
        assert [p.id for p in await bot_plans.list_plans(session, bot_id=bot_id, include_archived=False)] == [yearly.id]
        edited = await bot_plans.edit_plan(session, bot_id=bot_id, plan_id=yearly.id, price_kopeks=bot_plans.parse_price("1800"),
                                           device_limit=5, actor="tg:501")
        assert (edited.price_kopeks, edited.device_limit, edited.name, edited.period_days) == (180000, 5, "Yearly", 365)
        await bot_plans.set_plan_active(session, bot_id=bot_id, plan_id=monthly.id, active=True, actor="tg:501")
        assert [p.is_active for p in await bot_plans.list_plans(session, bot_id=bot_id)] == [True, True]
    async with app.unit_of_work() as session:
        audit = [(e.action, e.before, e.after) for e in (await session.scalars(
            select(AuditEntry).where(AuditEntry.bot_id == bot_id).order_by(AuditEntry.id))).all()]
    assert [a[0] for a in audit] == ["bot_plan.create", "bot_plan.create", "bot_plan.archive", "bot_plan.edit", "bot_plan.unarchive"]
    assert audit[0][2]["price_kopeks"] == 19990 and audit[0][1] is None
    assert audit[2][1:] == ({"active": True}, {"active": False})
    assert audit[3][1:] == ({"price_kopeks": 199000, "price": "1990.00", "device_limit": 1},
                            {"price_kopeks": 180000, "price": "1800.00", "device_limit": 5})


async def test_the_service_refuses_what_the_form_refuses_and_writes_nothing(app) -> None:
    bot_id, _other = await two_bots(app)
    async with app.unit_of_work() as session:
        gold, bronze = await add(session, bot_id, "Gold"), await add(session, bot_id, "Bronze")
        before = await rows(session, BotPlan)
    for fields, error, message in (
        ({"name": "gold"}, Conflict, "this bot already has a plan named 'gold'"),  # names are unique whatever their case
        ({"name": " "}, Invalid, "the plan name is required"),
        ({"name": "x" * 101}, Invalid, "the plan name is too long, at most 100 characters"),
        ({"period_days": 0}, Invalid, "the period (days) is a whole number from 1 to 3650, not '0'"),
        ({"price_kopeks": -1}, Invalid, "the price is from 0 to 10000000.00"),
        ({"price_kopeks": 2**31}, Invalid, "the price is from 0 to 10000000.00"),
        ({"traffic_gb": 100_001}, Invalid, "the traffic (GB, 0 for unlimited) is a whole number from 0 to 100000, not '100001'"),
        ({"device_limit": 0}, Invalid, "the device limit is a whole number from 1 to 100, not '0'"),
    ):
        with pytest.raises(error) as refused:
            async with app.unit_of_work() as session:
                await add(session, bot_id, **{"name": "Silver", **fields})
        assert str(refused.value) == message
        with pytest.raises(error) as refused:
            async with app.unit_of_work() as session:
                await bot_plans.edit_plan(session, bot_id=bot_id, plan_id=bronze.id, actor="tg:501", **fields)
        assert str(refused.value) == message
    with pytest.raises(Invalid, match="nothing to change"):
        async with app.unit_of_work() as session:
            await bot_plans.edit_plan(session, bot_id=bot_id, plan_id=gold.id, actor="tg:501")
    async with app.unit_of_work() as session:
        assert await rows(session, BotPlan) == before
        assert await session.scalar(select(AuditEntry.id).where(AuditEntry.action == "bot_plan.edit")) is None
        renamed = await bot_plans.edit_plan(session, bot_id=bot_id, plan_id=gold.id, name="GOLD", actor="tg:501")  # its own name
        assert renamed.name == "GOLD"


async def test_another_tenants_plan_or_card_is_not_found_and_nothing_changes(app) -> None:
    mine, theirs = await two_bots(app)
    async with app.unit_of_work() as session:
        their_plan = await add(session, theirs, "Theirs")
        their_card = await cards.add_card(session, bot_id=theirs, number=VISA, holder="B", bank=None, actor="test")
        before = (await rows(session, BotPlan), await rows(session, TenantPaymentCard))
    for call in (
        lambda s: bot_plans.get_plan(s, bot_id=mine, plan_id=their_plan.id),
        lambda s: bot_plans.edit_plan(s, bot_id=mine, plan_id=their_plan.id, price_kopeks=1, actor="tg:501"),
        lambda s: bot_plans.set_plan_active(s, bot_id=mine, plan_id=their_plan.id, active=False, actor="tg:501"),
        lambda s: bot_plans.get_plan(s, bot_id=mine, plan_id=2**40),
        lambda s: cards.get_card(s, bot_id=mine, card_id=their_card.id),
        lambda s: cards.set_card_active(s, bot_id=mine, card_id=their_card.id, active=False, actor="tg:501"),
        lambda s: cards.remove_card(s, bot_id=mine, card_id=their_card.id, actor="tg:501"),
    ):
        with pytest.raises(NotFound, match=r"^no (plan|card) \d+ on this bot$"):
            async with app.unit_of_work() as session:
                await call(session)
    async with app.unit_of_work() as session:
        assert (await rows(session, BotPlan), await rows(session, TenantPaymentCard)) == before
        assert await bot_plans.list_plans(session, bot_id=mine) == [] and await cards.list_cards(session, bot_id=mine) == []
        assert await session.scalar(select(AuditEntry.id).where(AuditEntry.bot_id == mine)) is None


@pytest.fixture
async def interleaved(app) -> tuple[int, int]:
    """Two bots whose plans and cards alternate, so that any small id may be either bot's."""
    a, b = await two_bots(app)
    async with app.unit_of_work() as session:
        for n in range(6):
            await add(session, a, f"A{n}")
            await add(session, b, f"B{n}")
        await cards.add_card(session, bot_id=a, number=VISA, holder="A", bank=None, actor="test")
        await cards.add_card(session, bot_id=b, number=VISA, holder="B", bank=None, actor="test")
        await cards.add_card(session, bot_id=a, number=MIR, holder="A", bank=None, actor="test")
        await cards.add_card(session, bot_id=b, number=MIR, holder="B", bank=None, actor="test")
    return a, b


OPERATIONS = {
    "plan.get": lambda s, bot, i: bot_plans.get_plan(s, bot_id=bot, plan_id=i),
    "plan.edit": lambda s, bot, i: bot_plans.edit_plan(s, bot_id=bot, plan_id=i, price_kopeks=i * 100, device_limit=2, actor="t"),
    "plan.archive": lambda s, bot, i: bot_plans.set_plan_active(s, bot_id=bot, plan_id=i, active=False, actor="t"),
    "plan.unarchive": lambda s, bot, i: bot_plans.set_plan_active(s, bot_id=bot, plan_id=i, active=True, actor="t"),
    "card.get": lambda s, bot, i: cards.get_card(s, bot_id=bot, card_id=i),
    "card.disable": lambda s, bot, i: cards.set_card_active(s, bot_id=bot, card_id=i, active=False, actor="t"),
    "card.enable": lambda s, bot, i: cards.set_card_active(s, bot_id=bot, card_id=i, active=True, actor="t"),
    "card.remove": lambda s, bot, i: cards.remove_card(s, bot_id=bot, card_id=i, actor="t"),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(sorted(OPERATIONS)), st.integers(min_value=-2, max_value=16), st.booleans()),
                    min_size=1, max_size=6))
async def test_any_ids_across_two_tenants_never_reach_the_other_tenants_rows(app, interleaved, ops) -> None:
    a, b = interleaved
    async with app.unit_of_work() as session:
        snapshot = {(bot, model): await rows(session, model, bot) for bot in (a, b) for model in (BotPlan, TenantPaymentCard)}
    for name, object_id, as_a in ops:
        actor_bot, other_bot = (a, b) if as_a else (b, a)
        model = BotPlan if name.startswith("plan") else TenantPaymentCard
        async with app.unit_of_work() as session:
            owner = await session.scalar(select(model.bot_id).where(model.id == object_id))
            try:
                result = await OPERATIONS[name](session, actor_bot, object_id)
            except NotFound:
                assert owner != actor_bot
            else:
                assert owner == actor_bot and result.bot_id == actor_bot
            listed = await (bot_plans.list_plans(session, bot_id=actor_bot) if model is BotPlan else cards.list_cards(session, bot_id=actor_bot))
            assert {row.bot_id for row in listed} <= {actor_bot}
        async with app.unit_of_work() as session:
            assert await rows(session, model, other_bot) == snapshot[(other_bot, model)]
            snapshot[(actor_bot, model)] = await rows(session, model, actor_bot)  # what the acting bot changed is its own
