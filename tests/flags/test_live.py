"""Live flags: a change committed through one App reaches another App's FeatureGate (LISTEN/NOTIFY on
PostgreSQL, polling on SQLite); on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
import pytest_asyncio

from tenantctl.billing.lifecycle import cancel_tenant
from tenantctl.core.app import App
from tenantctl.core.settings import Settings
from tenantctl.flags.gate import FeatureGate
from tenantctl.flags.live import FlagWatcher, change_payload, parse_payload
from tenantctl.plans.service import change_tenant_plan, set_grant
from tenantctl.tenants.master import register_master
from tenantctl.tenants.overrides import expire_overrides, set_override
from tenantctl.tenants.service import provision_tenant
from tests.tenants.support import MASTER_TOKEN, NOW, add_features_and_plans, tenant_token, write_env


def test_payloads_name_bots_or_everything() -> None:
    assert parse_payload(change_payload([3, 1, 3])) == [1, 3]
    assert parse_payload(change_payload(None)) is None
    assert parse_payload(change_payload(range(10_000))) is None  # too long for a NOTIFY: everything


async def _eventually(check: Callable[[], bool], wait: float = 15.0) -> bool:
    """Whether `check` holds within `wait` seconds (a generous bound, not a timing claim)."""
    for _ in range(int(wait / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


@pytest_asyncio.fixture
async def watched(app: App, settings: Settings, tmp_path) -> AsyncIterator[tuple[FeatureGate, dict[str, int]]]:
    """Two tenants, and a gate in a second App (its own engine, as another process) kept fresh by a watcher."""
    bot_ids = {}
    async with app.unit_of_work() as session:
        await add_features_and_plans(session)
        await register_master(session, token=MASTER_TOKEN, env_path=write_env(tmp_path), box=app.secret_box, actor="test")
        for n, (name, plan) in enumerate((("Alpha", "starter"), ("Beta", "growth")), start=1):
            result = await provision_tenant(session, name=name, token=tenant_token(n), owner_telegram_id=500 + n, plan=plan,
                                            box=app.secret_box, actor="test", identity=None, now=NOW)
            bot_ids[name] = result.bot.id
    other = await App.open(settings)
    gate = FeatureGate(other.sessions)
    for bot_id in bot_ids.values():
        await gate.load(bot_id)
    watcher = FlagWatcher([gate], settings.database_url, poll_interval=0.2)
    watcher.start()
    try:
        if settings.database_url.startswith("postgresql"):
            await asyncio.wait_for(watcher.listening.wait(), 15)
        yield gate, bot_ids
    finally:
        await watcher.stop()
        await other.close()


async def test_grant_override_plan_expiry_and_cancellation_reach_another_process(app: App, watched) -> None:
    gate, bots = watched
    alpha, beta = bots["Alpha"], bots["Beta"]
    assert not gate.is_enabled(alpha, "yookassa") and gate.is_enabled(beta, "yookassa")

    async with app.unit_of_work() as session:  # a grant: every tenant on the plan
        await set_grant(session, plan="starter", feature="yookassa", actor="test", enabled=True)
    assert await _eventually(lambda: gate.is_enabled(alpha, "yookassa"))

    async with app.unit_of_work() as session:  # an override with an expiry
        await set_override(session, bot_id=beta, feature="yookassa", enabled=False, actor="test", reason="test",
                           expires_at=NOW + timedelta(days=1), now=NOW)
    assert await _eventually(lambda: not gate.is_enabled(beta, "yookassa"))
    assert gate.is_enabled(alpha, "yookassa")

    async with app.unit_of_work() as session:  # the override expires
        await expire_overrides(session, now=NOW + timedelta(days=2))
    assert await _eventually(lambda: gate.is_enabled(beta, "yookassa"))

    async with app.unit_of_work() as session:  # a plan change
        await set_grant(session, plan="growth", feature="trial_subscription", actor="test", enabled=False)
        await change_tenant_plan(session, bot_id=alpha, plan="growth", actor="test")
    assert await _eventually(lambda: not gate.is_enabled(alpha, "trial_subscription"))

    async with app.unit_of_work() as session:  # a cancellation turns everything off
        await cancel_tenant(session, bot_id=alpha, actor="test")
    assert await _eventually(lambda: not gate.is_enabled(alpha, "card_to_card"))
    assert gate.is_enabled(beta, "card_to_card")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_listener_reconnects_and_reloads(app: App, watched) -> None:
    gate, bots = watched
    async with app.engine.connect() as connection:  # cut every other session's connection, the listener's too
        await connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    async with app.unit_of_work() as session:
        await set_grant(session, plan="starter", feature="yookassa", actor="test", enabled=True)
    assert await _eventually(lambda: gate.is_enabled(bots["Alpha"], "yookassa"))
