"""Issue 11 on both backends: master-only features, `plans seed` catching up, typed config, off values, archived plans."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tenantctl.core.errors import Invalid
from tenantctl.flags.catalogue import extract_feature_flags_from_env
from tenantctl.flags.models import BotFeatureFlag
from tenantctl.plans import service as plans
from tenantctl.plans.effective import explain_bot_flags, recompute_flags, sync_catalogue
from tenantctl.tenants.overrides import set_override
from tests.factories import feature, tenants
from tests.flags.test_fixtures import BEDOLAGA, MASTER_ONLY_FEATURES, fixtures_dir

ACTOR = "cli:test"
SEED = plans.load_plan_seed()


async def _flags(s, bot_id: int) -> dict[str, tuple]:
    rows = (await s.scalars(select(BotFeatureFlag).where(BotFeatureFlag.bot_id == bot_id))).all()
    return {r.feature_key: (r.enabled, r.value, r.source) for r in rows}


async def test_master_only_features_are_off_for_tenants_and_refused(app) -> None:
    env_dir = fixtures_dir()
    if env_dir is None:
        pytest.skip("shared .env fixtures not found")
    async with app.unit_of_work() as s:
        await sync_catalogue(s, catalogue=extract_feature_flags_from_env(env_dir / BEDOLAGA), actor=ACTOR)
        await plans.seed_plans(s, plans=SEED, actor=ACTOR)
        (bot,) = await tenants(s, (await plans.get_plan(s, "enterprise")).id, 1)
        await recompute_flags(s)
        flags = await _flags(s, bot)
        assert {key: flags[key] for key in MASTER_ONLY_FEATURES} == {key: (False, None, "default") for key in MASTER_ONLY_FEATURES}
        assert flags["yookassa"] == (True, None, "plan")  # everything else: granted by the all-features plan
        explained = {r["key"]: r for r in await explain_bot_flags(s, bot_id=bot)}
        assert (explained["backup_auto"]["plan_value"], explained["backup_auto"]["value"], explained["backup_auto"]["master_only"]) == (None, False, True)
        matrix = await plans.grants_matrix(s)
        assert next(r for r in matrix["features"] if r["key"] == "maintenance")["grants"]["enterprise"] is None
        with pytest.raises(Invalid, match="backup_auto is master-only: BACKUP_"):
            await plans.set_grant(s, plan="growth", feature="backup_auto", actor=ACTOR)
        with pytest.raises(Invalid, match="maintenance is master-only: an operations switch"):
            await set_override(s, bot_id=bot, feature="maintenance", enabled=True, reason="x", actor=ACTOR)


async def test_seed_adds_later_features_to_unedited_plans_only(app) -> None:
    async with app.unit_of_work() as s:
        s.add_all([feature("trial_subscription"), feature("auto_renewal"), feature("yookassa"), feature("referral_program")])
        first = await plans.seed_plans(s, plans=SEED, actor=ACTOR)
        assert "starter/card_to_card" in first.skipped_features
        (starter_bot,) = await tenants(s, (await plans.get_plan(s, "starter")).id, 1)
        await plans.revoke_grant(s, plan="growth", feature="yookassa", actor=ACTOR)  # growth is edited now
        s.add_all([feature("card_to_card"), feature("zarinpal")])  # a later file has them
        await s.flush()
        report = await plans.seed_plans(s, plans=SEED, actor=ACTOR)
        assert report.added == {"starter": ["card_to_card", "zarinpal"]}
        assert report.edited == {"growth": ["card_to_card", "zarinpal", "yookassa"]}  # the revoke stays
        assert report.unchanged == ["enterprise"] and report.created == report.reset == []
        assert (await _flags(s, starter_bot))["card_to_card"] == (True, None, "plan")
        growth = (await plans.grants_matrix(s, plan="growth"))["features"]
        assert {r["key"] for r in growth if r["grants"]["growth"]} == {"trial_subscription", "auto_renewal", "referral_program"}
        again = await plans.seed_plans(s, plans=SEED, actor=ACTOR)
        assert again.added == {} and again.unchanged == ["starter", "enterprise"]
        reset = await plans.seed_plans(s, plans=SEED, actor=ACTOR, reset=True)
        assert reset.reset == ["starter", "growth", "enterprise"] and (await plans.get_plan(s, "growth")).grants_edited_at is None


async def test_config_overrides_are_typed_by_their_template(app) -> None:
    async with app.unit_of_work() as s:
        s.add(feature("yookassa", config={"YOOKASSA_MIN_AMOUNT_KOPEKS": 5000, "RATE": 1.5, "SBP": False, "LANGS": ["ru"],
                                          "OPTS": {"a": 1}, "TITLE": "Pay", "URL": None}))
        await plans.create_plan(s, name="pro", actor=ACTOR)
        (bot,) = await tenants(s, (await plans.get_plan(s, "pro")).id, 1)
        for config, message in [({"YOOKASSA_MIN_AMOUNT_KOPEKS": "abc"}, "YOOKASSA_MIN_AMOUNT_KOPEKS takes a whole number"),
                                ({"YOOKASSA_MIN_AMOUNT_KOPEKS": 1.5}, "a whole number"), ({"SBP": 1}, "SBP takes true/false"),
                                ({"LANGS": "ru"}, "a list"), ({"OPTS": [1]}, "a JSON object"), ({"TITLE": 5}, "TITLE takes text"),
                                ({"RATE": "x"}, "RATE takes a number")]:
            with pytest.raises(Invalid, match=message):
                await plans.set_grant(s, plan="pro", feature="yookassa", actor=ACTOR, config=config)
            with pytest.raises(Invalid, match=message):
                await set_override(s, bot_id=bot, feature="yookassa", enabled=None, config=config, reason="r", actor=ACTOR)
        fine = {"YOOKASSA_MIN_AMOUNT_KOPEKS": 100, "RATE": 2, "SBP": True, "LANGS": ["en"], "OPTS": {"b": 2}, "TITLE": "x", "URL": 3}
        assert (await plans.set_grant(s, plan="pro", feature="yookassa", actor=ACTOR, config=fine)).config_override == fine


async def test_a_disabled_mode_shows_its_off_value(app) -> None:
    async with app.unit_of_work() as s:
        s.add_all([feature("server_status", kind="mode", value="disabled", allowed=("disabled", "external_link", "xray")),
                   feature("support_tickets", kind="mode", value="both", allowed=("tickets", "contact", "both"))])
        await plans.create_plan(s, name="pro", actor=ACTOR)
        (bot,) = await tenants(s, (await plans.get_plan(s, "pro")).id, 1)
        await set_override(s, bot_id=bot, feature="support_tickets", enabled=False, reason="r", actor=ACTOR)
        rows = {r["key"]: r for r in await explain_bot_flags(s, bot_id=bot)}
    assert (rows["server_status"]["value"], rows["server_status"]["enabled"]) == ("disabled", False)
    assert (rows["support_tickets"]["value"], rows["support_tickets"]["enabled"]) == ("off", False)  # no listed off value


async def test_set_plan_onto_an_archived_plan_is_refused(app) -> None:
    async with app.unit_of_work() as s:
        await plans.create_plan(s, name="pro", actor=ACTOR)
        await plans.create_plan(s, name="old", actor=ACTOR)
        (bot,) = await tenants(s, (await plans.get_plan(s, "pro")).id, 1)
        await plans.archive_plan(s, name="old", actor=ACTOR)
        with pytest.raises(Invalid, match="plan 'old' is archived"):
            await plans.change_tenant_plan(s, bot_id=bot, plan="old", actor=ACTOR)
