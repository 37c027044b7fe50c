"""The master, provisioning and the config cloner, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from tenantctl.audit.models import AuditEntry
from tenantctl.core.crypto import sha256_hex
from tenantctl.core.dates import add_months
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.flags.keys import is_sensitive_key
from tenantctl.flags.models import BotFeatureFlag
from tenantctl.plans.models import TenantSubscription
from tenantctl.tenants import service
from tenantctl.tenants.config import (
    TENANT_DEFAULT_KEYS,
    clone_master_config_to_tenant,
)
from tenantctl.tenants.lookup import get_master
from tenantctl.tenants.master import register_master
from tenantctl.tenants.models import ApiToken, Bot, BotAdmin, BotConfiguration
from tenantctl.tenants.service import provision_tenant
from tenantctl.tenants.telegram import BotIdentity
from tenantctl.tenants.tokens import issue_api_token
from tests.tenants.support import (
    MASTER_ENV,
    MASTER_SECRETS,
    MASTER_TOKEN,
    NOW,
    add_features_and_plans,
    count_rows,
    dump_database,
    find_fixture_env_dir,
    setup_platform,
    tenant_token,
    write_env,
)


async def provision(session, app, n: int = 1, **overrides):
    args = dict(name=f"Tenant {n}", token=tenant_token(n), owner_telegram_id=500 + n, plan="starter", language="fa",
                support_username="@tenant_help", box=app.secret_box, actor="test", identity=None, now=NOW)
    args.update(overrides)
    return await provision_tenant(session, **args)


@pytest.mark.parametrize(
    "start, months, expected",
    [
        (datetime(2025, 1, 31, 12, tzinfo=timezone.utc), 1, datetime(2025, 2, 28, 12, tzinfo=timezone.utc)),
        (datetime(2024, 1, 31, tzinfo=timezone.utc), 1, datetime(2024, 2, 29, tzinfo=timezone.utc)),
        (datetime(2025, 12, 15, tzinfo=timezone.utc), 1, datetime(2026, 1, 15, tzinfo=timezone.utc)),
        (datetime(2025, 3, 31, tzinfo=timezone.utc), 13, datetime(2026, 4, 30, tzinfo=timezone.utc)),
    ],
)
def test_add_months_is_calendar_months(start, months, expected) -> None:
    assert add_months(start, months) == expected


async def test_master_init_encrypts_secrets_and_reports_the_diff(app, tmp_path) -> None:
    env = write_env(tmp_path)
    async with app.unit_of_work() as session:
        report = await setup_platform(session, app.secret_box, env)
    assert report.created and "YOOKASSA_SECRET_KEY" in report.added and not report.changed
    async with app.unit_of_work() as session:
        master = await get_master(session)
        rows = {r.config_key: r for r in (await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == master.id))).all()}
        assert master.token_fingerprint == sha256_hex(MASTER_TOKEN) and master.token_encrypted != MASTER_TOKEN
        assert app.secret_box.decrypt(master.token_encrypted) == MASTER_TOKEN
        for key, value in MASTER_SECRETS.items():
            assert rows[key].value is None and app.secret_box.decrypt(rows[key].encrypted_value) == value
        assert rows["BOT_TOKEN"].value is None  # master-only and secret
        # the id half of a credential pair is master-only, so it is kept encrypted like the secret beside it
        assert rows["YOOKASSA_SHOP_ID"].value is None and app.secret_box.decrypt(rows["YOOKASSA_SHOP_ID"].encrypted_value) == "123456"
        assert rows["TRIAL_DURATION_DAYS"].value == "3"  # dotenv's value: the inline comment is gone
        assert {r.source for r in rows.values()} == {"master"}

    changed_env = MASTER_ENV.replace("YOOKASSA_SHOP_ID=123456", "YOOKASSA_SHOP_ID=654321").replace(
        "CRYPTOBOT_ENABLED=false\n", "").replace(MASTER_SECRETS["YOOKASSA_SECRET_KEY"], "rotated-secret") + "NEW_KEY=1\n"
    async with app.unit_of_work() as session:
        again = await register_master(session, token=MASTER_TOKEN, env_path=write_env(tmp_path, changed_env), box=app.secret_box,
                                      actor="test", identity=BotIdentity(1111111111, "master_bot", "Master"))
    assert not again.created
    assert again.added == ["NEW_KEY"] and sorted(again.changed) == ["YOOKASSA_SECRET_KEY", "YOOKASSA_SHOP_ID"]
    assert again.removed == ["CRYPTOBOT_ENABLED"]
    assert again.bot.username == "master_bot"
    async with app.unit_of_work() as session:
        assert len((await session.scalars(select(Bot).where(Bot.is_master.is_(True)))).all()) == 1


async def test_provision_creates_the_whole_tenant(app, tmp_path) -> None:
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        identity = BotIdentity(id=42424242, username="tenant_one_bot", first_name="Tenant One")
        result = await provision(session, app, identity=identity, share_keys=["YOOKASSA_SECRET_KEY"])
        bot_id, plaintext = result.bot.id, result.api_token_plaintext
    async with app.unit_of_work() as session:
        bot = await session.get(Bot, bot_id)
        assert (bot.status, bot.username, bot.telegram_id, bot.default_language, bot.support_username, bot.is_master) == (
            "active", "tenant_one_bot", 42424242, "fa", "@tenant_help", False)
        assert app.secret_box.decrypt(bot.token_encrypted) == tenant_token(1)
        assert bot.token_fingerprint == sha256_hex(tenant_token(1)) and bot.name_key == "tenant l"
        admins = (await session.scalars(select(BotAdmin).where(BotAdmin.bot_id == bot_id))).all()
        assert [(a.telegram_user_id, a.role) for a in admins] == [(501, "owner")]
        sub = await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == bot_id))
        assert (sub.status, sub.start_date, sub.end_date) == ("active", NOW, datetime(2025, 2, 28, 12, tzinfo=timezone.utc))
        config = {r.config_key: r for r in (await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == bot_id))).all()}
        assert config["TRIAL_DURATION_DAYS"].value == "3" and config["TRIAL_DURATION_DAYS"].source == "cloned"
        assert app.secret_box.decrypt(config["YOOKASSA_SECRET_KEY"].encrypted_value) == MASTER_SECRETS["YOOKASSA_SECRET_KEY"]
        assert config["YOOKASSA_SECRET_KEY"].value is None
        assert {k: config[k].value for k in TENANT_DEFAULT_KEYS} == {
            "BOT_NAME": "Tenant 1", "BOT_USERNAME": "tenant_one_bot", "DEFAULT_LANGUAGE": "fa", "SUPPORT_USERNAME": "@tenant_help"}
        for excluded in ("BOT_TOKEN", "ADMIN_IDS", "REMNAWAVE_API_KEY", "REMNAWAVE_API_URL", "DATABASE_URL",
                         "CRYPTOBOT_API_TOKEN", "MASTER_ADMIN_IDS", "YOOKASSA_SHOP_ID"):
            assert excluded not in config
        flags = {f.feature_key: f.enabled for f in (await session.scalars(select(BotFeatureFlag).where(BotFeatureFlag.bot_id == bot_id))).all()}
        assert flags == {"card_to_card": True, "trial_subscription": True, "yookassa": False}
        token = await session.scalar(select(ApiToken).where(ApiToken.bot_id == bot_id))
        assert plaintext.startswith(token.prefix + "_") and token.token_hash == sha256_hex(plaintext)
        actions = set((await session.scalars(select(AuditEntry.action).where(AuditEntry.bot_id == bot_id))).all())
        assert {"tenant.create", "tenant.clone_config", "token.issue"} <= actions


async def test_provision_refusals(app, tmp_path) -> None:
    async with app.unit_of_work() as session:
        await add_features_and_plans(session)
    with pytest.raises(NotFound, match="master init"):
        async with app.unit_of_work() as session:
            await provision(session, app)
    async with app.unit_of_work() as session:
        await register_master(session, token=MASTER_TOKEN, env_path=write_env(tmp_path), box=app.secret_box, actor="test")
        await provision(session, app, identity=BotIdentity(9090, "taken_bot", "Taken"))
    cases = [
        (dict(token="12345:short"), Invalid, "not a Telegram bot token"),
        (dict(token=MASTER_TOKEN), Conflict, "master bot's own token"),
        (dict(token=tenant_token(1), name="Other"), Conflict, "already registered as tenant 'Tenant 1'"),
        (dict(n=2, identity=BotIdentity(9090, "taken_bot", "Taken")), Conflict, "already registered"),
        (dict(n=2, name="tenant 1"), Conflict, "'tenant 1' looks like 'Tenant 1'"),
        (dict(n=2, language="de"), Invalid, "not one of fa, ru, en"),
        (dict(n=2, plan="legacy"), Conflict, "archived"),
        (dict(n=2, plan="startr"), NotFound, "did you mean starter"),
        (dict(n=2, support_username="@x"), Invalid, "not a Telegram username"),
        (dict(n=2, name="ab"), Invalid, "3 to 64"),
        (dict(n=2, owner_telegram_id=0), Invalid, "owner"),
        (dict(n=2, share_keys=["BOT_TOKEN"]), Invalid, "master-only: BOT_TOKEN .*, never shared"),
        (dict(n=2, share_keys=["NOPE_TOKEN"]), Invalid, "has no configuration key"),
    ]
    for kwargs, error, message in cases:
        n = kwargs.pop("n", 1)
        with pytest.raises(error, match=message):
            async with app.unit_of_work() as session:
                await provision(session, app, n=n, **kwargs)


async def test_a_token_held_by_a_registration_in_progress_is_refused_to_everyone_else(app, tmp_path) -> None:
    from tenantctl.onboarding.models import TenantRegistration
    from tenantctl.onboarding.service import create_tenant

    async with app.unit_of_work() as session:
        await add_features_and_plans(session)
        await register_master(session, token=MASTER_TOKEN, env_path=write_env(tmp_path), box=app.secret_box, actor="test")
        held = TenantRegistration(telegram_user_id=77, status="awaiting_payment", bot_name="Held",
                                  token_fingerprint=sha256_hex(tenant_token(1)))
        session.add(held)
    with pytest.raises(Conflict, match="registration in progress") as refused:
        async with app.unit_of_work() as session:  # `tenant create` goes through onboarding's check
            await create_tenant(session, name="Tenant 1", token=tenant_token(1), owner_telegram_id=501, plan="starter",
                                box=app.secret_box, actor="test", identity=None)
    assert refused.value.code == "token_taken"
    async with app.unit_of_work() as session:  # the registration itself completes through provisioning
        result = await provision(session, app)
    assert result.bot.token_fingerprint == sha256_hex(tenant_token(1))


async def test_no_plaintext_bot_token_api_token_or_webhook_secret_anywhere_in_the_database(app, tmp_path) -> None:
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        first = await provision(session, app, 1, share_keys=["YOOKASSA_SECRET_KEY"])
        second = await provision(session, app, 2, plan="growth")
        extra, _row = await issue_api_token(session, bot_id=first.bot.id, actor="test")
        master = await get_master(session)
    async with app.unit_of_work() as session:
        dump = await dump_database(session)
    assert "bot_configurations" in dump and "api_tokens" in dump
    webhook_secrets = [app.secret_box.webhook_secret(bot.id) for bot in (master, first.bot, second.bot)]
    secrets = [tenant_token(1), tenant_token(2), MASTER_TOKEN, first.api_token_plaintext, second.api_token_plaintext, extra,
               *MASTER_SECRETS.values(), *webhook_secrets]
    for secret in secrets:
        assert secret not in dump
        assert secret.split(":", 1)[-1] not in dump  # nor the token's secret half
    for api_token in (first.api_token_plaintext, second.api_token_plaintext, extra):
        assert api_token.split("_", 2)[2] not in dump  # the part after the stored prefix


@pytest.mark.parametrize("fixture", ["bedolaga-4.1.0.env.example", "remnabot-fork.env.example"])
async def test_clone_from_real_env_files_never_leaks_master_only_or_secret_keys(app, fixture) -> None:
    directory = find_fixture_env_dir()
    if directory is None or not (directory / fixture).is_file():
        pytest.skip(f"fixture {fixture} not found: set TENANTCTL_FIXTURES_DIR or keep shared/fixtures/env above the repo")
    path = str(directory / fixture)
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, path)  # BOT_TOKEN is empty there: the token comes from MASTER_BOT_TOKEN
        master = await get_master(session)
        master_rows = (await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == master.id))).all()
        result = await provision(session, app)
        rows = (await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == result.bot.id))).all()
        again = await register_master(session, token=MASTER_TOKEN, env_path=path, box=app.secret_box, actor="test")
        assert (again.added, again.changed, again.removed) == ([], [], [])  # a re-import of the same file is no change
    keys = {r.config_key for r in rows}
    assert len(keys) > 300
    master_keys = {r.config_key for r in master_rows}
    leaked = sorted(k for k in keys - set(TENANT_DEFAULT_KEYS) if is_sensitive_key(k, master_keys))
    assert leaked == []
    assert all(r.encrypted_value is None for r in rows)
    excluded = set(result.clone_report.excluded)
    assert excluded == {k for k in master_keys if is_sensitive_key(k, master_keys)} - set(TENANT_DEFAULT_KEYS)
    assert "REMNAWAVE_API_KEY" in excluded and "BOT_TOKEN" in excluded and "ADMIN_IDS" in excluded
    # every value in a tenant is a master value that was not excluded, or a tenant default
    plain_master = {r.config_key: r.value for r in master_rows}
    for row in rows:
        if row.config_key not in TENANT_DEFAULT_KEYS:
            assert row.value == plain_master[row.config_key]


PROVISION_STEPS = ["_create_bot", "_add_owner", "_start_subscription", "clone_master_config_to_tenant",
                   "recompute_flags", "issue_api_token", "record"]


class Injected(Exception):
    pass


@pytest.mark.parametrize("step", PROVISION_STEPS)
async def test_a_failure_at_any_step_leaves_no_partial_tenant(app, tmp_path, monkeypatch, step) -> None:
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        await provision(session, app, 1)  # an existing tenant, so "nothing changed" is not trivially "empty"
    async with app.unit_of_work() as session:
        before = await count_rows(session)

    original = getattr(service, step)
    calls = []

    async def failing(*args, **kwargs):
        calls.append(step)
        if step == "record" and kwargs.get("action") != "tenant.create":
            return await original(*args, **kwargs)  # fail at the last step: the final audit entry
        raise Injected(step)

    monkeypatch.setattr(service, step, failing)
    with pytest.raises(Injected):
        async with app.unit_of_work() as session:
            await provision(session, app, 2)
    assert calls
    monkeypatch.undo()
    async with app.unit_of_work() as session:
        assert await count_rows(session) == before
        assert await session.scalar(select(Bot).where(Bot.token_fingerprint == sha256_hex(tenant_token(2)))) is None


async def test_clone_keeps_tenant_edits_removes_stale_rows_and_dry_run_writes_nothing(app, tmp_path) -> None:
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        result = await provision(session, app, share_keys=["YOOKASSA_SECRET_KEY"])
        bot_id = result.bot.id
        edited = await session.get(BotConfiguration, (bot_id, "TRIAL_DURATION_DAYS"))
        edited.value, edited.source = "7", "tenant"
        lang = await session.get(BotConfiguration, (bot_id, "DEFAULT_LANGUAGE"))
        lang.value, lang.source = "en", "tenant"
    async with app.unit_of_work() as session:
        before = await count_rows(session)
        dry = await clone_master_config_to_tenant(session, tenant_bot_id=bot_id, dry_run=True, actor="test")
        assert await count_rows(session) == before
    assert dry.dry_run and set(dry.kept_tenant_edited) == {"TRIAL_DURATION_DAYS", "DEFAULT_LANGUAGE"}
    assert dry.removed == ["YOOKASSA_SECRET_KEY"]  # shared before, not shared now: the snapshot drops it
    assert dry.excluded["YOOKASSA_SECRET_KEY"].startswith("secret-looking")
    assert dry.excluded["REMNAWAVE_API_KEY"] == "master-only: REMNAWAVE_* (the operator's panel)"
    async with app.unit_of_work() as session:
        again = await clone_master_config_to_tenant(session, tenant_bot_id=bot_id, actor="test")
        assert again.removed == dry.removed and again.copied == dry.copied
    async with app.unit_of_work() as session:
        assert (await session.get(BotConfiguration, (bot_id, "TRIAL_DURATION_DAYS"))).value == "7"
        assert (await session.get(BotConfiguration, (bot_id, "DEFAULT_LANGUAGE"))).value == "en"
        assert await session.get(BotConfiguration, (bot_id, "YOOKASSA_SECRET_KEY")) is None
        with pytest.raises(NotFound):
            await clone_master_config_to_tenant(session, tenant_bot_id=(await get_master(session)).id, actor="test")
