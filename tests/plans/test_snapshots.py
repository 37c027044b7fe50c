"""`bot_feature_flags` as a view over per-plan snapshots and per-bot exceptions, on both backends: a grant change
rewrites its plan's two snapshot rows and the few exceptions, and every tenant's answer (the view, a gate in
another App, `explain_bot_flags`) is right as soon as it commits."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import func, select, update

from tenantctl.core.app import App
from tenantctl.core.db import run_in_transaction, utcnow
from tenantctl.flags.gate import FeatureGate
from tenantctl.flags.models import BotFeatureFlag, BotFlagException, TenantFeatureOverride
from tenantctl.flags.rollout import in_rollout
from tenantctl.plans import service as plans
from tenantctl.plans.effective import explain_bot_flags, recompute_flags
from tenantctl.plans.models import PlanFeatureFlag, TenantSubscription
from tenantctl.tenants.overrides import expire_overrides, set_override
from tests.factories import feature, tenants

ACTOR = "cli:test"
KEYS = ("yookassa", "support_tickets", "referral_program")


async def _setup(app, active: int, expired: int = 0) -> dict[str, list[int]]:
    async with app.unit_of_work() as s:
        s.add_all([feature("yookassa", config={"LIMIT": 1, "OPTS": {"a": 1}}),
                   feature("support_tickets", kind="mode", value="tickets", allowed=("disabled", "tickets", "both")),
                   feature("referral_program", enabled=True, config={"PERCENT": 25})])
        await plans.seed_plans(s, actor=ACTOR, plans=[
            {"name": "starter", "display_name": "Starter", "monthly_price_kopeks": 1, "features": {"referral_program": False}},
            {"name": "growth", "display_name": "Growth", "monthly_price_kopeks": 2, "features": {"yookassa": True}},
        ])
        growth = (await plans.get_plan(s, "growth")).id
        bots = {"active": await tenants(s, growth, active), "expired": await tenants(s, growth, expired, status="expired")}
        await recompute_flags(s)
    return bots


async def _view(app, bot_ids: list[int] | None = None) -> dict[tuple[int, str], tuple]:
    async with app.unit_of_work() as s:
        query = select(BotFeatureFlag)
        if bot_ids is not None:
            query = query.where(BotFeatureFlag.bot_id.in_(bot_ids))
        return {(r.bot_id, r.feature_key): (r.enabled, r.value, r.source, r.config, r.user_splits)
                for r in (await s.scalars(query)).all()}


async def _explained(app, bot_id: int) -> dict[str, tuple]:
    async with app.unit_of_work() as s:
        return {r["key"]: (r["enabled"], r["value"], r["source"], r["config"]) for r in await explain_bot_flags(s, bot_id=bot_id)}


async def _stored(app) -> tuple[int, int]:
    async with app.unit_of_work() as s:
        return (await s.scalar(select(func.count()).select_from(PlanFeatureFlag)),
                await s.scalar(select(func.count()).select_from(BotFlagException)))


def _gate_answers(gate: FeatureGate, bot_id: int) -> dict[str, tuple]:
    return {key: (gate.is_enabled(bot_id, key), gate.value(bot_id, key), gate.config(bot_id, key)) for key in KEYS}


async def test_a_grant_change_is_right_for_every_tenant_at_once(app: App, settings) -> None:
    bots = await _setup(app, active=12, expired=3)
    vip, lapsed, *plain = bots["active"]
    now = utcnow()
    async with app.unit_of_work() as s:
        await set_override(s, bot_id=vip, feature="yookassa", enabled=False, config={"LIMIT": 7}, reason="vip", actor=ACTOR)
        await set_override(s, bot_id=lapsed, feature="yookassa", enabled=False, reason="trial", actor=ACTOR,
                           expires_at=now + timedelta(hours=1))
        await s.execute(update(TenantFeatureOverride).where(TenantFeatureOverride.bot_id == lapsed)
                        .values(expires_at=now - timedelta(minutes=1)))  # expired, not yet removed by the expiry job
    everyone = bots["active"] + bots["expired"]
    other = await App.open(settings)  # another engine, as another process
    try:
        gate = FeatureGate(other.sessions)
        for bot_id in everyone:
            await gate.load(bot_id)
        assert gate.is_enabled(lapsed, "yookassa") is False  # the override, until something recomputes the bot

        async with app.unit_of_work() as s:
            await plans.set_grant(s, plan="growth", feature="yookassa", actor=ACTOR, config={"LIMIT": 1000})
        await gate.refresh()  # what the watcher does on the change's notice (`*`: a plan-wide change)

        granted = (True, None, "plan", {"LIMIT": 1000, "OPTS": {"a": 1}}, None)
        view = await _view(app)
        assert [view[(b, "yookassa")] for b in plain + [lapsed]] == [granted] * (len(plain) + 1)  # expired: no longer wins
        assert view[(vip, "yookassa")] == (False, None, "override", {"LIMIT": 7, "OPTS": {"a": 1}}, None)
        off = (False, None, "default", {"LIMIT": 1, "OPTS": {"a": 1}}, None)
        assert [view[(b, "yookassa")] for b in bots["expired"]] == [off] * 3  # no active subscription: everything off
        assert {view[(b, "referral_program")][:3] for b in bots["expired"]} == {(False, None, "default")}
        assert len(view) == len(everyone) * len(KEYS)
        for bot_id in everyone:
            explained = await _explained(app, bot_id)
            for key in KEYS:
                enabled, _, source, config, _ = view[(bot_id, key)]
                assert explained[key][0] == enabled and explained[key][2:] == (source, config), (bot_id, key)
                assert gate.is_enabled(bot_id, key) is enabled and gate.config(bot_id, key) == config, (bot_id, key)
        assert gate.value(plain[0], "support_tickets") == "tickets" and gate.value(bots["expired"][0], "support_tickets") is None
        # stored: two snapshot rows per plan and feature, and one exception, whatever the tenants
        assert await _stored(app) == (2 * 2 * len(KEYS), 1)
        async with app.unit_of_work() as s:
            assert [o.bot_id for o in await expire_overrides(s)] == [lapsed]
        assert (await _view(app, [lapsed]))[(lapsed, "yookassa")] == granted
    finally:
        await other.close()


async def test_what_a_grant_change_stores_does_not_grow_with_the_tenants(app: App) -> None:
    bots = await _setup(app, active=5)
    async with app.unit_of_work() as s:
        await set_override(s, bot_id=bots["active"][0], feature="yookassa", enabled=False, reason="x", actor=ACTOR)
    stored = []
    for more in (0, 60):
        async with app.unit_of_work() as s:
            await tenants(s, (await plans.get_plan(s, "growth")).id, more)
            await plans.set_grant(s, plan="growth", feature="yookassa", actor=ACTOR, config={"LIMIT": 10 + more})
        stored.append(await _stored(app))
        assert {v[3]["LIMIT"] for (b, key), v in (await _view(app)).items()
                if key == "yookassa" and b != bots["active"][0]} == {10 + more}
    assert stored[0] == stored[1] == (2 * 2 * len(KEYS), 1)


async def test_the_view_follows_the_subscription_and_a_plan_change_moves_one_tenant(app: App) -> None:
    bots = await _setup(app, active=4)
    moved, stays, *_ = bots["active"]
    async with app.unit_of_work() as s:
        await set_override(s, bot_id=moved, feature="support_tickets", enabled=None, value="both", reason="x", actor=ACTOR)
    before = await _view(app, [stays])
    async with app.unit_of_work() as s:  # a lapsed subscription turns everything off, its override included
        await s.execute(update(TenantSubscription).where(TenantSubscription.bot_id == moved).values(status="expired"))
        assert {(r.enabled, r.source) for r in (await s.scalars(select(BotFeatureFlag).where(BotFeatureFlag.bot_id == moved))).all()} == {
            (False, "default")}
        await s.execute(update(TenantSubscription).where(TenantSubscription.bot_id == moved).values(status="active"))
    async with app.unit_of_work() as s:
        await plans.change_tenant_plan(s, bot_id=moved, plan="starter", actor=ACTOR)
    flags = await _view(app, [moved])
    assert flags[(moved, "yookassa")][:3] == (False, None, "default")  # starter does not grant it
    assert flags[(moved, "referral_program")][:3] == (False, None, "plan")  # starter denies it
    assert flags[(moved, "support_tickets")][:3] == (True, "both", "override")  # the override stays
    assert await _view(app, [stays]) == before
    explained = await _explained(app, moved)
    assert {key: explained[key][:3] for key in KEYS} == {key: (v[0], v[1] or v[0], v[2]) for (_, key), v in flags.items()}


async def test_a_tenant_sticky_rollout_stores_its_members_only(app: App) -> None:
    bots = (await _setup(app, active=40))["active"]
    async with app.unit_of_work() as s:
        await plans.set_grant(s, plan="growth", feature="support_tickets", actor=ACTOR, value="both", rollout_percent=30)
    members = {b for b in bots if in_rollout("support_tickets", str(b), 30)}
    assert 0 < len(members) < len(bots)
    view = await _view(app, bots)
    assert {b for b in bots if view[(b, "support_tickets")][1] == "both"} == members
    async with app.unit_of_work() as s:
        assert set((await s.scalars(select(BotFlagException.bot_id))).all()) == members
    async with app.unit_of_work() as s:  # no rollout: one snapshot again, no exceptions
        await plans.set_grant(s, plan="growth", feature="support_tickets", actor=ACTOR, value="both")
    assert {v[1] for (_, key), v in (await _view(app, bots)).items() if key == "support_tickets"} == {"both"}
    assert (await _stored(app))[1] == 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite serialises writers
async def test_plan_moves_racing_grant_changes_of_both_plans_leave_every_row_right(app: App) -> None:
    bots = (await _setup(app, active=8))["active"]
    movers = bots[:4]
    async with app.unit_of_work() as s:  # an inherit override: the row it makes depends on the plan underneath
        for bot_id in movers:
            await set_override(s, bot_id=bot_id, feature="yookassa", enabled=None, config={"LIMIT": 9}, reason="x", actor=ACTOR)

    async def grant(plan: str, n: int, s) -> None:
        await plans.set_grant(s, plan=plan, feature="yookassa", actor=ACTOR, enabled=n % 2 == 0, config={"OPTS": {"n": n}})

    async def move(bot_id: int, s) -> None:
        await plans.change_tenant_plan(s, bot_id=bot_id, plan="starter", actor=ACTOR)

    work = [partial(move, b) for b in movers] + [partial(grant, plan, n) for n in range(3) for plan in ("growth", "starter")]
    outcomes = await asyncio.gather(*(run_in_transaction(app.sessions, w) for w in work), return_exceptions=True)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    view = await _view(app, bots)
    for bot_id in bots:
        explained = await _explained(app, bot_id)
        assert {key: (view[(bot_id, key)][0], view[(bot_id, key)][2], view[(bot_id, key)][3]) for key in KEYS} == {
            key: (explained[key][0], explained[key][2], explained[key][3]) for key in KEYS}, bot_id
    assert {view[(b, "yookassa")][2] for b in movers} == {"override"}
