"""Revision 0009 turns `bot_feature_flags` into a view over plan snapshots and bot exceptions: every row reads the
same after the upgrade and after the downgrade, the exceptions are only the bots that differ from their plan, and
a recompute afterwards changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, text

from tenantctl.core import migrate
from tenantctl.core.app import App
from tenantctl.core.db import create_engine, utcnow
from tenantctl.core.settings import Settings
from tenantctl.flags.models import BotFlagException
from tenantctl.flags.rollout import in_rollout
from tenantctl.plans import service as plans
from tenantctl.plans.effective import recompute_flags
from tenantctl.plans.models import PlanFeatureFlag
from tenantctl.tenants.overrides import set_override
from tests.conftest import TEST_SECRET_KEY
from tests.factories import feature, tenants

ACTOR = "cli:test"
ROWS = "SELECT bot_id, feature_key, enabled, value, config, source, user_splits FROM bot_feature_flags"


async def _rows(engine) -> dict[tuple[int, str], tuple]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text(ROWS))).all()
    decode = engine.dialect.name == "sqlite"  # JSON read back as text there
    return {(r[0], r[1]): (bool(r[2]), r[3], r[5], json.loads(r[4]) if decode else r[4],
                           json.loads(r[6]) if decode and r[6] else r[6]) for r in rows}


async def _tenants_with_every_kind_of_flag(app: App) -> tuple[list[int], set[int]]:
    async with app.unit_of_work() as s:
        s.add_all([feature("yookassa", config={"LIMIT": 1}),
                   feature("support_tickets", kind="mode", value="tickets", allowed=("disabled", "tickets", "both")),
                   feature("referral_program", enabled=True)])
        await plans.seed_plans(s, actor=ACTOR, plans=[
            {"name": "starter", "display_name": "Starter", "monthly_price_kopeks": 1, "features": {"referral_program": False}},
            {"name": "growth", "display_name": "Growth", "monthly_price_kopeks": 2, "features": {"yookassa": True}},
        ])
        growth, starter = (await plans.get_plan(s, "growth")).id, (await plans.get_plan(s, "starter")).id
        bots = await tenants(s, growth, 30) + await tenants(s, starter, 3) + await tenants(s, growth, 2, status="expired")
        await recompute_flags(s)
        await plans.set_grant(s, plan="growth", feature="support_tickets", actor=ACTOR, value="both", rollout_percent=60)
        await plans.set_grant(s, plan="growth", feature="yookassa", actor=ACTOR, config={"LIMIT": 5},
                              rollout_percent=40, rollout_by="user")
        await set_override(s, bot_id=bots[0], feature="yookassa", enabled=False, reason="x", actor=ACTOR)
        await set_override(s, bot_id=bots[31], feature="yookassa", enabled=True, reason="x", actor=ACTOR,
                           expires_at=utcnow() + timedelta(days=1))
    members = {b for b in bots[:30] if in_rollout("support_tickets", str(b), 60)}
    return bots, members


async def test_0009_keeps_every_row_both_ways(empty_db_url: str, tmp_path) -> None:
    engine = create_engine(empty_db_url)
    await migrate.upgrade(engine)
    settings = Settings(database_url=empty_db_url, secret_key=TEST_SECRET_KEY, key_file=str(tmp_path / "secret.key"))
    try:
        app = await App.open(settings)
        try:
            bots, members = await _tenants_with_every_kind_of_flag(app)
        finally:
            await app.close()
        before = await _rows(engine)
        assert len(before) == len(bots) * 3

        await migrate.downgrade(engine, "0008")
        assert await _rows(engine) == before  # a table again

        await migrate.upgrade(engine)
        assert await _rows(engine) == before  # the view
        app = await App.open(settings)
        try:
            async with app.unit_of_work() as s:
                exceptions = set((await s.execute(select(BotFlagException.bot_id, BotFlagException.feature_key))).all())
                snapshots = len((await s.scalars(select(PlanFeatureFlag))).all())
            # growth's members of the 60 % rollout (those outside share the snapshot) and the two overrides
            assert exceptions == {(b, "support_tickets") for b in members} | {(bots[0], "yookassa"), (bots[31], "yookassa")}
            assert snapshots == 2 * 3 + 3  # growth active and expired; starter active only (no expired tenant)
            async with app.unit_of_work() as s:
                await recompute_flags(s)
                exceptions_after = set((await s.execute(select(BotFlagException.bot_id, BotFlagException.feature_key))).all())
            # a recompute also keeps the expired tenants' rollout answers, which the view uses once they are active again
            lapsed = {(b, "support_tickets") for b in bots[33:] if in_rollout("support_tickets", str(b), 60)}
            assert exceptions_after == exceptions | lapsed
        finally:
            await app.close()
        assert await _rows(engine) == before
    finally:
        await engine.dispose()
