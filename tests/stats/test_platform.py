"""Platform figures for the master admin panel, and the plan-change preview, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from tenantctl.billing.lifecycle import cancel_tenant
from tenantctl.billing.models import MANUAL, PlatformPayment
from tenantctl.billing.service import record_payment
from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.customers.models import TrafficDaily, Transaction, User
from tenantctl.plans.models import TenantSubscription
from tenantctl.plans.preview import (
    FlagChange,
    plan_change_preview,
    plan_tenant_counts,
    tenants_on_plan,
)
from tenantctl.plans.service import get_plan, set_grant
from tenantctl.stats.platform import (
    feature_holders,
    feature_usage,
    find_tenants,
    mrr_series,
    platform_stats,
    tenant_summary,
)
from tenantctl.tenants.overrides import set_override
from tenantctl.tenants.service import provision_tenant
from tests.tenants.support import setup_platform, tenant_token, write_env

GB = 1024**3


async def _platform(app: App, tmp_path: Path) -> list[int]:
    """A master, the starter/growth plans, and tenants Alpha, Beta (starter) and Gamma (growth)."""
    ids = []
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        for n, (name, plan) in enumerate((("Alpha", "starter"), ("Beta", "starter"), ("Gamma", "growth")), 1):
            result = await provision_tenant(session, name=name, token=tenant_token(n), owner_telegram_id=500 + n, plan=plan,
                                            box=app.secret_box, actor="test", identity=None)
            result.bot.username = f"{name.lower()}_vpn_bot"
            ids.append(result.bot.id)
    return ids


async def test_tenant_summary_counts_the_last_30_days(app: App, tmp_path: Path) -> None:
    alpha, beta, _gamma = await _platform(app, tmp_path)
    now = utcnow()
    async with app.unit_of_work() as session:
        users = [User(bot_id=alpha, telegram_id=9000 + i) for i in range(3)] + [User(bot_id=beta, telegram_id=9100)]
        session.add_all(users)
        await session.flush()
        session.add_all([
            Transaction(bot_id=alpha, user_id=users[0].id, kind="deposit", amount_kopeks=10_000, payment_method="card", created_at=now),
            Transaction(bot_id=alpha, user_id=users[1].id, kind="subscription_payment", amount_kopeks=5_000, payment_method="card",
                        created_at=now - timedelta(days=3)),
            Transaction(bot_id=alpha, user_id=users[1].id, kind="refund", amount_kopeks=2_000, payment_method="card", created_at=now),
            Transaction(bot_id=alpha, kind="deposit", amount_kopeks=7_000, payment_method="card", status="failed", created_at=now),
            Transaction(bot_id=alpha, kind="deposit", amount_kopeks=40_000, payment_method="card", created_at=now - timedelta(days=40)),
            Transaction(bot_id=beta, kind="deposit", amount_kopeks=99_000, payment_method="card", created_at=now),
            TrafficDaily(bot_id=alpha, day=now.date(), consumed_bytes=5 * GB),
            TrafficDaily(bot_id=alpha, day=(now - timedelta(days=45)).date(), consumed_bytes=70 * GB),
        ])
    async with app.unit_of_work() as session:
        summary = await tenant_summary(session, bot_id=alpha, now=now)
        assert (summary.bot.name, summary.plan.name, summary.subscription.status) == ("Alpha", "starter", "active")
        assert (summary.users, summary.income_30d_kopeks, summary.traffic_30d_bytes) == (3, 13_000, 5 * GB)

        stats = await platform_stats(session, now=now)
        assert [(bot.name, n) for bot, n in stats.top_by_users] == [("Alpha", 3), ("Beta", 1)]
        assert [(bot.name, n) for bot, n in stats.top_by_income] == [("Beta", 99_000), ("Alpha", 13_000)]


async def test_find_tenants_filters_searches_and_pages(app: App, tmp_path: Path) -> None:
    alpha, beta, gamma = await _platform(app, tmp_path)
    async with app.unit_of_work() as session:
        await cancel_tenant(session, bot_id=beta, actor="test")
        starter = (await get_plan(session, "starter")).id
        everyone, total = await find_tenants(session)
        assert ([line.bot.id for line in everyone], total) == ([alpha, beta, gamma], 3)
        assert [line.plan for line in everyone] == ["starter", "starter", "growth"]
        active_starter, total = await find_tenants(session, status="active", plan_id=starter)
        assert ([line.bot.name for line in active_starter], total) == (["Alpha"], 1)
        found, total = await find_tenants(session, search="@GAMMA_vpn")
        assert ([line.bot.name for line in found], total) == (["Gamma"], 1)
        found, _ = await find_tenants(session, search="et")  # "Beta" by name
        assert [line.bot.name for line in found] == ["Beta"]
        page, total = await find_tenants(session, offset=2, limit=2)
        assert ([line.bot.name for line in page], total) == (["Gamma"], 3)


async def test_feature_usage_and_holders_with_their_source(app: App, tmp_path: Path) -> None:
    alpha, beta, gamma = await _platform(app, tmp_path)
    async with app.unit_of_work() as session:
        await set_override(session, bot_id=gamma, feature="yookassa", enabled=False, actor="test", reason="chargebacks")
        await set_override(session, bot_id=alpha, feature="yookassa", enabled=True, actor="test", reason="pilot")
    async with app.unit_of_work() as session:
        usage = await feature_usage(session)
        assert usage["card_to_card"] == 3 and usage["yookassa"] == 1
        holders, total = await feature_holders(session, feature_key="card_to_card", limit=2)
        assert total == 3 and [(h.bot_id, h.source) for h in holders] == [(alpha, "plan"), (beta, "plan")]
        holders, total = await feature_holders(session, feature_key="yookassa")
        assert total == 1 and [(h.name, h.source) for h in holders] == [("Alpha", "override")]


async def test_plan_change_preview_and_affected_tenants(app: App, tmp_path: Path) -> None:
    alpha, beta, gamma = await _platform(app, tmp_path)
    async with app.unit_of_work() as session:
        starter, growth = (await get_plan(session, "starter")).id, (await get_plan(session, "growth")).id
        assert await tenants_on_plan(session, plan_id=starter) == [alpha, beta]
        assert await plan_tenant_counts(session) == {starter: 2, growth: 1}
        assert await plan_change_preview(session, bot_id=alpha, plan="growth") == [FlagChange("yookassa", False, True)]
        await set_override(session, bot_id=alpha, feature="yookassa", enabled=True, actor="test", reason="pilot")
        assert await plan_change_preview(session, bot_id=alpha, plan="growth") == []  # the override still decides
        await set_grant(session, plan="growth", feature="card_to_card", enabled=False, actor="test")
        assert await plan_change_preview(session, bot_id=alpha, plan="growth") == [FlagChange("card_to_card", True, False)]
        assert await plan_change_preview(session, bot_id=alpha, plan="starter") == []
        plan_id = await session.scalar(select(TenantSubscription.plan_tier_id).where(TenantSubscription.bot_id == alpha))
    assert plan_id == starter  # a preview changes nothing


async def test_platform_stats_mrr_income_churn_and_expiring(app: App, tmp_path: Path) -> None:
    alpha, beta, gamma = await _platform(app, tmp_path)
    now = utcnow()
    async with app.unit_of_work() as session:
        await cancel_tenant(session, bot_id=beta, actor="test")
        subscription = await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == gamma))
        subscription.end_date = now + timedelta(days=3)
        session.add(PlatformPayment(bot_id=alpha, purpose="activation", method=MANUAL, status="succeeded", amount_minor=100_000,
                                    currency="RUB", external_id="act-1", reviewed_at=now))
        session.add(PlatformPayment(bot_id=alpha, purpose="activation", method=MANUAL, status="succeeded", amount_minor=50_000,
                                    currency="RUB", external_id="act-old", reviewed_at=now - timedelta(days=60)))
        await session.flush()
        await record_payment(session, bot_id=alpha, amount_kopeks=500_000, method=MANUAL, reference="ren-1", actor="test", now=now)
    async with app.unit_of_work() as session:
        stats = await platform_stats(session, now=now + timedelta(seconds=1))
        series = await mrr_series(session, now=now + timedelta(seconds=1))
    assert stats.by_status == {"active": 2, "cancelled": 1}
    assert stats.by_plan == {"starter": 2, "growth": 1}
    assert stats.mrr_kopeks == 500_000 + 1_000_000  # Alpha (starter) and Gamma (growth); Beta is cancelled
    assert stats.activation_income == {"RUB": 100_000} and stats.renewal_income == {"RUB": 500_000}
    assert (stats.cancelled, stats.expired) == (1, 0)
    assert [bot.name for bot, _end in stats.expiring] == ["Gamma"]
    assert len(series) == 90 and series[0][1] == 0 and series[-1] == ((now + timedelta(seconds=1)).date(), 1_500_000)
