"""Gateway settings a tenant admin sets: only gateways that are on, only their keys, typed, secrets never read back.

On SQLite and PostgreSQL (the `app` fixture).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from tenantctl.audit.models import AuditEntry
from tenantctl.core.errors import Forbidden, Invalid, NotFound
from tenantctl.flags.models import BotFeatureFlag, Feature
from tenantctl.tenants.config import plaintext_of
from tenantctl.tenants.gateway import gateway_settings, set_gateway_value
from tenantctl.tenants.models import BotConfiguration
from tests.tenants.support import dump_database, setup_platform, write_env
from tests.tenants.test_provisioning import provision

SECRET = "yk-tenant-secret-4e9a1c"
YOOKASSA_CONFIG = {"YOOKASSA_SECRET_KEY": None, "YOOKASSA_RETURN_URL": None, "YOOKASSA_SBP_ENABLED": False, "YOOKASSA_VAT_CODE": 1,
                   "YOOKASSA_PAYMENT_MODE": "full_payment", "YOOKASSA_MIN_AMOUNT_KOPEKS": 5000, "YOOKASSA_METHODS": ["card", "sbp"]}


async def tenants(app, tmp_path) -> tuple[int, int, int]:
    """Tenants on growth (YooKassa on), starter (off) and growth again; YooKassa with a realistic config."""
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        await session.execute(update(Feature).where(Feature.key == "yookassa").values(
            default_config=YOOKASSA_CONFIG, config_keys=list(YOOKASSA_CONFIG), secret_keys=["YOOKASSA_SECRET_KEY"]))
        await session.execute(update(Feature).where(Feature.key == "card_to_card").values(env_aliases=["C2C_ENABLED"]))
        ids = [(await provision(session, app, n, plan=plan)).bot.id for n, plan in ((1, "growth"), (2, "starter"), (3, "growth"))]
    return ids[0], ids[1], ids[2]


async def put(app, bot_id: int, key: str, value: str, feature: str = "yookassa") -> dict:
    async with app.unit_of_work() as session:
        return await set_gateway_value(session, bot_id=bot_id, feature=feature, key=key, value=value, box=app.secret_box, actor="tg:501")


async def shown(app, bot_id: int) -> dict[str, dict[str, dict]]:
    async with app.unit_of_work() as session:
        return {g["feature"]: {s["key"]: s for s in g["settings"]} for g in await gateway_settings(session, bot_id=bot_id)}


async def test_show_lists_the_gateways_that_are_on_with_their_keys(app, tmp_path) -> None:
    on, off, _ = await tenants(app, tmp_path)
    settings = await shown(app, on)
    assert list(settings) == ["yookassa", "card_to_card"] and settings["card_to_card"] == {}
    assert list(settings["yookassa"]) == list(YOOKASSA_CONFIG)
    assert settings["yookassa"]["YOOKASSA_SECRET_KEY"] == {"key": "YOOKASSA_SECRET_KEY", "secret": True, "set": False, "source": "feature"}
    assert settings["yookassa"]["YOOKASSA_VAT_CODE"] == {"key": "YOOKASSA_VAT_CODE", "secret": False, "set": True, "source": "feature", "value": "1"}
    assert settings["yookassa"]["YOOKASSA_METHODS"]["value"] == "card,sbp"
    assert settings["yookassa"]["YOOKASSA_SBP_ENABLED"]["value"] == "false"
    assert settings["yookassa"]["YOOKASSA_RETURN_URL"] == {"key": "YOOKASSA_RETURN_URL", "secret": False, "set": False, "source": "feature", "value": None}
    assert list(await shown(app, off)) == ["card_to_card"]  # starter has no YooKassa


async def test_a_secret_is_stored_encrypted_and_never_read_back(app, tmp_path) -> None:
    on, _, neighbour = await tenants(app, tmp_path)
    after = await put(app, on, "YOOKASSA_SECRET_KEY", f"  {SECRET} ")
    assert after == {"key": "YOOKASSA_SECRET_KEY", "secret": True, "set": True, "source": "tenant"}
    settings = await shown(app, on)
    assert settings["yookassa"]["YOOKASSA_SECRET_KEY"] == after and SECRET not in json.dumps(settings)
    assert (await shown(app, neighbour))["yookassa"]["YOOKASSA_SECRET_KEY"]["set"] is False  # another tenant's is its own
    async with app.unit_of_work() as session:
        row = await session.get(BotConfiguration, (on, "YOOKASSA_SECRET_KEY"))
        assert row.value is None and row.encrypted_value and plaintext_of(row, app.secret_box) == SECRET
        assert SECRET not in await dump_database(session)  # nowhere in plaintext: not the row, not the audit log
        audit = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "gateway.set"))).all()
        assert [(e.entity, e.before, e.after) for e in audit] == [(f"bot:{on}/yookassa/YOOKASSA_SECRET_KEY", None, after)]
    unset = await put(app, on, "YOOKASSA_SECRET_KEY", "")
    assert unset["set"] is False
    async with app.unit_of_work() as session:
        assert (await session.get(BotConfiguration, (on, "YOOKASSA_SECRET_KEY"))).encrypted_value is None


async def test_values_are_typed_by_the_features_template(app, tmp_path) -> None:
    on, _, _ = await tenants(app, tmp_path)
    assert (await put(app, on, "YOOKASSA_VAT_CODE", "۲"))["value"] == "2"  # Persian digits
    assert (await put(app, on, "yookassa_sbp_enabled", "true"))["value"] == "true"  # keys read upper-cased; a sub-switch is config
    assert (await put(app, on, "YOOKASSA_METHODS", "card"))["value"] == "card"  # one item of a list
    assert (await put(app, on, "YOOKASSA_PAYMENT_MODE", "123"))["value"] == "123"  # text stays text
    assert (await put(app, on, "YOOKASSA_RETURN_URL", "https://shop.example/done"))["source"] == "tenant"
    async with app.unit_of_work() as session:
        before = await dump_database(session)
    for key, value, message in (
        ("YOOKASSA_VAT_CODE", "two", "yookassa: YOOKASSA_VAT_CODE takes a whole number (like its default 1), not 'two'"),
        ("YOOKASSA_MIN_AMOUNT_KOPEKS", "50.5", "yookassa: YOOKASSA_MIN_AMOUNT_KOPEKS takes a whole number (like its default 5000), not 50.5"),
        ("YOOKASSA_SBP_ENABLED", "yes", "yookassa: YOOKASSA_SBP_ENABLED takes true/false (like its default False), not 'yes'"),
        ("YOOKASSA_METHODS", '{"card": 1}', "yookassa: YOOKASSA_METHODS takes a list (like its default ['card', 'sbp']), not {'card': 1}"),
        ("YOOKASSA_RETURN_URL", "x" * 4097, "YOOKASSA_RETURN_URL is too long, at most 4096 characters"),
        ("YOOKASSA_SHOP", "1", "yookassa has no setting YOOKASSA_SHOP"),
    ):
        with pytest.raises(Invalid) as refused:
            await put(app, on, key, value)
        assert str(refused.value).startswith(message)
    async with app.unit_of_work() as session:
        assert await dump_database(session) == before


async def test_no_switching_no_master_only_key_no_gateway_that_is_off(app, tmp_path) -> None:
    on, off, _ = await tenants(app, tmp_path)
    async with app.unit_of_work() as session:
        before = await dump_database(session)
    for bot_id, feature, key, error, message in (
        (on, "yookassa", "YOOKASSA_ENABLED", Forbidden, "YOOKASSA_ENABLED switches yookassa on or off: only the platform does that"),
        (on, "card_to_card", "CARD_TO_CARD_ENABLED", Forbidden, "CARD_TO_CARD_ENABLED switches card_to_card on or off"),
        (on, "card_to_card", "c2c_enabled", Forbidden, "C2C_ENABLED switches card_to_card on or off"),  # an alias of the switch
        (on, "yookassa", "YOOKASSA_SHOP_ID", Forbidden, "YOOKASSA_SHOP_ID is master-only: the user or id half of a credential"),
        (on, "yookassa", "REMNAWAVE_API_KEY", Forbidden, "REMNAWAVE_API_KEY is master-only: REMNAWAVE_* (the operator's panel)"),
        (off, "yookassa", "YOOKASSA_SECRET_KEY", Forbidden, "yookassa is not on for this bot"),
        (on, "trial_subscription", "TRIAL_DURATION_DAYS", Invalid, "trial_subscription is not a payment gateway"),
        (on, "paypal", "PAYPAL_KEY", NotFound, "no feature 'paypal'"),
    ):
        with pytest.raises(error) as refused:
            await put(app, bot_id, key, "true", feature=feature)
        assert str(refused.value).startswith(message)
    async with app.unit_of_work() as session:
        assert await dump_database(session) == before
        assert await session.scalar(select(func.count()).select_from(BotFeatureFlag).where(
            BotFeatureFlag.bot_id == off, BotFeatureFlag.feature_key == "yookassa", BotFeatureFlag.enabled.is_(True))) == 0
