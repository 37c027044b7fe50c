"""`build_demo`: what it creates, determinism, refusing a second run without reset."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from tenantctl.core.errors import Conflict
from tenantctl.customers.models import Subscription, TrafficDaily, Transaction, User
from tenantctl.demo.service import EXAMPLE_ENV, build_demo
from tenantctl.plans.models import TenantSubscription
from tenantctl.tenants.models import Bot
from tests.tenants.support import NOW


def demo_env() -> str:
    return str(EXAMPLE_ENV)


async def snapshot(session) -> dict:
    users = (await session.execute(select(User.telegram_id, User.language_code, User.first_name, User.username).order_by(User.telegram_id))).all()
    payments = (await session.execute(
        select(Transaction.kind, Transaction.status, Transaction.amount_kopeks, Transaction.payment_method, Transaction.created_at)
        .order_by(Transaction.created_at, Transaction.external_id))).all()
    traffic = (await session.execute(select(TrafficDaily.day, TrafficDaily.consumed_bytes).order_by(TrafficDaily.day, TrafficDaily.consumed_bytes))).all()
    return {"users": users, "payments": payments, "traffic": traffic}


async def test_demo_builds_three_tenants_with_realistic_deterministic_data(app) -> None:
    env = demo_env()
    async with app.unit_of_work() as session:
        report = await build_demo(session, box=app.secret_box, env_path=env, actor="test", now=NOW)
    assert [(t.bot.name, t.plan.name) for t in report.tenants] == [
        ("Aurora VPN", "starter"), ("Sever VPN", "growth"), ("Nimbus VPN", "enterprise")]
    assert report.master.is_master and report.catalogue_features >= 20
    async with app.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Bot)) == 4
        languages = Counter((await session.scalars(select(User.language_code))).all())
        assert set(languages) == {"fa", "ru", "en"} and sum(languages.values()) == report.counts["users"] == 380
        methods = Counter((await session.scalars(select(Transaction.payment_method))).all())
        assert {"card_to_card", "zarinpal", "yookassa", "cryptobot", "telegram_stars"} <= set(methods)
        first, last = (await session.execute(select(func.min(Transaction.created_at), func.max(Transaction.created_at)))).one()
        assert (last - first).days >= 80
        assert await session.scalar(select(func.count()).select_from(TrafficDaily)) == 3 * 90
        statuses = set((await session.scalars(select(Subscription.status))).all())
        assert {"active", "expired", "trial"} <= statuses
        ends = sorted((await session.scalars(select(TenantSubscription.end_date))).all())
        assert ends[0] - NOW < ends[-1] - NOW  # one renewal falls due soon, the others later
        before = await snapshot(session)

    with pytest.raises(Conflict, match="--reset"):
        async with app.unit_of_work() as session:
            await build_demo(session, box=app.secret_box, env_path=env, actor="test", now=NOW)
    async with app.unit_of_work() as session:
        await build_demo(session, box=app.secret_box, env_path=env, actor="test", now=NOW, reset=True)
    async with app.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Bot)) == 4
        assert await snapshot(session) == before
