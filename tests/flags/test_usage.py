"""Usage counts: the gate counts in memory, the flusher upserts them by day, on both backends."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from tenantctl.core.db import utcnow
from tenantctl.flags.gate import FeatureGate
from tenantctl.flags.models import FlagUsageDaily
from tenantctl.flags.usage import UsageFlusher, record_usage, usage_totals
from tenantctl.plans import service as plans
from tenantctl.plans.effective import recompute_flags
from tests.factories import feature, tenants

ACTOR = "cli:test"


async def _two_bots(app) -> list[int]:
    async with app.unit_of_work() as s:
        s.add_all([feature("yookassa", enabled=True),
                   feature("support_tickets", kind="mode", value="tickets", allowed=("disabled", "tickets", "both"))])
        plan = await plans.create_plan(s, name="growth", actor=ACTOR)
        bots = await tenants(s, plan.id, 2)
        await recompute_flags(s)
        return bots


async def test_the_gate_counts_by_result_and_the_flusher_adds_them_up(app) -> None:
    a, b = await _two_bots(app)
    gate = FeatureGate(app.sessions)
    for bot in (a, b):
        await gate.load(bot)
    for _ in range(3):
        assert gate.is_enabled(a, "yookassa")
    assert gate.value(b, "support_tickets") == "tickets"
    assert not gate.is_enabled(a, "no_such_feature")  # unknown: not counted
    flusher = UsageFlusher([gate], app.unit_of_work)
    assert await flusher.flush() == 2

    async with app.unit_of_work() as s:  # a change of b's flags: the counts of the answers it replaces are kept
        await plans.set_grant(s, plan="growth", feature="support_tickets", actor=ACTOR, value="both")
    gate.value(b, "support_tickets")
    await gate.refresh([b])
    gate.value(b, "support_tickets")
    gate.is_enabled(a, "yookassa")
    await flusher.stop()  # the last flush

    async with app.unit_of_work() as s:
        rows = (await s.execute(select(FlagUsageDaily.bot_id, FlagUsageDaily.feature_key, FlagUsageDaily.result,
                                       FlagUsageDaily.count, FlagUsageDaily.day))).all()
        today = utcnow().date()
        assert sorted(rows) == [(a, "yookassa", "on", 4, today), (b, "support_tickets", "both", 1, today),
                                (b, "support_tickets", "tickets", 2, today)]
        assert await usage_totals(s, bot_id=b, since=today + timedelta(days=1)) == []
        totals = await usage_totals(s, bot_id=a)
        assert totals == [{"bot_id": a, "feature_key": "yookassa", "result": "on", "count": 4, "first_day": today.isoformat(),
                           "last_day": today.isoformat()}]
    assert gate.take_usage() == {}


async def test_record_usage_upserts_by_day_and_skips_bots_without_flags(app) -> None:
    a, _ = await _two_bots(app)
    day = date(2026, 1, 2)
    async with app.unit_of_work() as s:
        assert await record_usage(s, counts={(a, "yookassa", "on"): 5, (999_999, "yookassa", "on"): 1}, day=day) == 1
        await record_usage(s, counts={(a, "yookassa", "on"): 2, (a, "yookassa", "off"): 1}, day=day)
        await record_usage(s, counts={(a, "yookassa", "on"): 7}, day=day + timedelta(days=1))
    async with app.unit_of_work() as s:
        totals = {(r["result"], r["first_day"], r["last_day"]): r["count"] for r in await usage_totals(s)}
        since = {r["result"]: r["count"] for r in await usage_totals(s, since=day + timedelta(days=1))}
    assert totals == {("off", "2026-01-02", "2026-01-02"): 1, ("on", "2026-01-02", "2026-01-03"): 14}
    assert since == {"on": 7}
