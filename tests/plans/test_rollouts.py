"""Rollouts on grants and overrides, on both backends: tenant-sticky ones decided by bot id at recompute,
user-sticky ones stored as splits and decided per end user by the gate."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tenantctl.core.errors import Invalid
from tenantctl.flags.gate import FeatureGate
from tenantctl.flags.models import BotFeatureFlag
from tenantctl.flags.rollout import bucket, in_rollout
from tenantctl.plans import service as plans
from tenantctl.plans.effective import explain_bot_flags, recompute_flags
from tenantctl.tenants.overrides import set_override
from tests.factories import feature, tenants

ACTOR = "cli:test"


async def _setup(app, count: int) -> list[int]:
    async with app.unit_of_work() as s:
        s.add_all([feature("yookassa", config={"LIMIT": 1}),
                   feature("support_tickets", kind="mode", value="tickets", allowed=("disabled", "tickets", "both"))])
        plan = await plans.create_plan(s, name="growth", actor=ACTOR)
        bots = await tenants(s, plan.id, count)
        await recompute_flags(s)
        return bots


async def _enabled(app, key: str) -> dict[int, bool]:
    async with app.unit_of_work() as s:
        rows = (await s.execute(select(BotFeatureFlag.bot_id, BotFeatureFlag.enabled).where(BotFeatureFlag.feature_key == key))).all()
    return dict(rows)


async def test_a_tenant_sticky_grant_rollout_turns_on_exactly_the_bots_in_its_buckets(app) -> None:
    bots = await _setup(app, 40)
    async with app.unit_of_work() as s:
        grant = await plans.set_grant(s, plan="growth", feature="yookassa", actor=ACTOR, rollout_percent=30)
    assert (grant.rollout_percent, grant.rollout_by) == (30, "tenant")
    on = await _enabled(app, "yookassa")
    assert on == {b: in_rollout("yookassa", str(b), 30) for b in bots}
    assert 0 < sum(on.values()) < len(bots)
    async with app.unit_of_work() as s:  # raising the percentage only adds bots
        await plans.set_grant(s, plan="growth", feature="yookassa", actor=ACTOR, rollout_percent=70)
    wider = await _enabled(app, "yookassa")
    assert {b for b, v in on.items() if v} <= {b for b, v in wider.items() if v}
    assert wider == {b: bucket("yookassa", str(b)) <= 70 for b in bots}

    inside = next(b for b in bots if wider[b])
    outside = next(b for b in bots if not wider[b])
    async with app.unit_of_work() as s:
        rows = {b: {r["key"]: r for r in await explain_bot_flags(s, bot_id=b)}["yookassa"] for b in (inside, outside)}
    assert rows[inside]["plan_rollout"] == {"percent": 70, "by": "tenant", "in": True}
    assert rows[outside]["plan_rollout"] == {"percent": 70, "by": "tenant", "in": False}
    assert (rows[inside]["value"], rows[inside]["rolled_out"]) == (True, True)
    assert (rows[outside]["value"], rows[outside]["source"]) == (False, "default")  # outside: the catalogue default

    async with app.unit_of_work() as s:  # no rollout again: every bot
        await plans.set_grant(s, plan="growth", feature="yookassa", actor=ACTOR)
    assert set((await _enabled(app, "yookassa")).values()) == {True}


async def test_a_user_sticky_rollout_is_answered_per_end_user_by_the_gate(app) -> None:
    bots = await _setup(app, 3)
    async with app.unit_of_work() as s:
        await plans.set_grant(s, plan="growth", feature="support_tickets", actor=ACTOR, value="both",
                              rollout_percent=25, rollout_by="user")
        flag = await s.get(BotFeatureFlag, (bots[0], "support_tickets"))
        assert (flag.value, flag.source) == ("tickets", "default")  # end users in no rollout
        assert flag.user_splits == [{"upto": 25, "enabled": True, "value": "both", "config": {}}]
    gate = FeatureGate(app.sessions)
    await gate.load(bots[0])
    users = [f"user-{n}" for n in range(400)]
    answers = {u: gate.value(bots[0], "support_tickets", user=u) for u in users}
    assert answers == {u: "both" if bucket("support_tickets", u) <= 25 else "tickets" for u in users}
    assert gate.value(bots[0], "support_tickets") == "tickets"  # no end user: in no rollout
    assert gate.value(bots[0], "support_tickets", user=7) == gate.value(bots[0], "support_tickets", user="7")

    # a tenant's override rolled out to 60% of its users on top: three answers by bucket
    async with app.unit_of_work() as s:
        await set_override(s, bot_id=bots[0], feature="support_tickets", enabled=None, value="disabled",
                           rollout_percent=60, rollout_by="user", reason="a/b", actor=ACTOR)
    await gate.refresh([bots[0]])
    expect = {u: "disabled" if bucket("support_tickets", u) <= 60 else "tickets" for u in users}
    assert {u: gate.value(bots[0], "support_tickets", user=u) or "disabled" for u in users} == expect
    other = FeatureGate(app.sessions)
    await other.load(bots[1])
    assert other.value(bots[1], "support_tickets", user=users[0]) == answers[users[0]]  # its plan's split only


async def test_an_override_rollout_by_tenant_and_the_rules(app) -> None:
    bots = await _setup(app, 30)
    async with app.unit_of_work() as s:
        for b in bots:
            await set_override(s, bot_id=b, feature="yookassa", enabled=True, rollout_percent=50, reason="half", actor=ACTOR)
    assert await _enabled(app, "yookassa") == {b: in_rollout("yookassa", str(b), 50) for b in bots}
    async with app.unit_of_work() as s:
        with pytest.raises(Invalid, match="0 to 100"):
            await plans.set_grant(s, plan="growth", feature="yookassa", actor=ACTOR, rollout_percent=101)
        with pytest.raises(Invalid, match="sticky by"):
            await plans.set_grant(s, plan="growth", feature="yookassa", actor=ACTOR, rollout_percent=5, rollout_by="session")
        with pytest.raises(Invalid, match="needs an override"):
            await set_override(s, bot_id=bots[0], feature="yookassa", enabled=None, rollout_percent=5, reason="x", actor=ACTOR)
    async with app.unit_of_work() as s:  # 0 % is nobody: the plan (here the default) applies to every bot
        await set_override(s, bot_id=bots[0], feature="yookassa", enabled=True, rollout_percent=0, reason="paused", actor=ACTOR)
        assert (await s.get(BotFeatureFlag, (bots[0], "yookassa"))).enabled is False
