"""The data model on both backends: round trips, constraints, migrations and drift."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from tenantctl.audit.models import AuditEntry
from tenantctl.billing.models import PaymentInbox, PlatformPayment, PlatformRefund
from tenantctl.core.conversation import FsmRecord
from tenantctl.core import migrate
from tenantctl.core.db import create_engine, utcnow
from tenantctl.core.models import KeyVerifier
from tenantctl.customers.models import (
    BotPlan,
    Order,
    PanelJob,
    Subscription,
    SubscriptionDaily,
    TenantPaymentCard,
    TrafficDaily,
    Transaction,
    TransactionDaily,
    User,
    UserDaily,
)
from tenantctl.flags.models import BotFeatureFlag, BotFlagException, Feature, FlagUsageDaily, TenantFeatureOverride
from tenantctl.models import metadata
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.plans.models import (
    PlanFeatureFlag,
    PlanFeatureGrant,
    TenantSubscription,
    TenantSubscriptionPlan,
)
from tenantctl.tenants.models import ApiToken, Bot, BotAdmin, BotConfiguration

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def a_bot(n: int = 1, **kw) -> Bot:
    return Bot(**{"name": f"bot {n}", "token_encrypted": "enc", "token_fingerprint": f"fp{n}", **kw})


def a_feature(key: str = "yookassa") -> Feature:
    return Feature(key=key, env_key=f"{key.upper()}_ENABLED", category="payment_gateways", kind="switch")


async def test_every_model_round_trips(app) -> None:
    async with app.unit_of_work() as s:
        bot = a_bot(status="active", owner_telegram_id=7, username="shop_bot", telegram_id=555)
        plan = TenantSubscriptionPlan(name="starter", display_name="Starter", monthly_price_kopeks=500000)
        s.add_all([bot, plan, a_feature()])
        await s.flush()
        user = User(bot_id=bot.id, telegram_id=42, first_name="Али", language_code="fa")
        bot_plan = BotPlan(bot_id=bot.id, name="1 month", period_days=30, price_kopeks=19900)
        registration = TenantRegistration(telegram_user_id=42, bot_name="x", plan_tier_id=plan.id)
        s.add_all([user, bot_plan, registration])
        await s.flush()
        s.add_all(
            [
                BotAdmin(bot_id=bot.id, telegram_user_id=7, role="owner"),
                BotConfiguration(bot_id=bot.id, config_key="TRIAL_DAYS", value={"nested": [1, 2]}),
                ApiToken(bot_id=bot.id, prefix="tc_ab", token_hash="h" * 64),
                TenantFeatureOverride(bot_id=bot.id, feature_key="yookassa", enabled=True, reason="vip",
                                      created_by="cli:root", expires_at=NOW),
                TenantPaymentCard(bot_id=bot.id, card_number="6037990000000000", holder_name="A"),
                PlanFeatureGrant(plan_tier_id=plan.id, feature_key="yookassa", enabled=True,
                                 config_override={"YOOKASSA_SBP_ENABLED": True}),
                TenantSubscription(bot_id=bot.id, plan_tier_id=plan.id, end_date=NOW + timedelta(days=30)),
                PlanFeatureFlag(plan_tier_id=plan.id, active=True, feature_key="yookassa", enabled=True, source="plan",
                                user_splits=[{"upto": 25, "enabled": False, "value": None, "config": {}}]),
                BotFlagException(bot_id=bot.id, feature_key="yookassa", enabled=False, source="override"),
                Subscription(bot_id=bot.id, user_id=user.id, bot_plan_id=bot_plan.id, status="active",
                             start_date=NOW, end_date=NOW + timedelta(days=30), traffic_used_bytes=2**40),
                Transaction(bot_id=bot.id, user_id=user.id, kind="deposit", amount_kopeks=19900,
                            payment_method="yookassa", external_id="yk-1"),
                TrafficDaily(bot_id=bot.id, day=date(2026, 11, 1), consumed_bytes=2**41, sold_bytes=2**42),
                FlagUsageDaily(day=date(2026, 11, 1), bot_id=bot.id, feature_key="yookassa", result="on", count=2**40),
                PlatformPayment(bot_id=bot.id, registration_id=registration.id, purpose="activation",
                                method="telegram_stars", amount_minor=667, currency="XTR", external_id="ch_1",
                                receipt={"text": "оплачено"}),
                AuditEntry(actor="cli:root", action="test", entity="bot:1", bot_id=bot.id,
                           before=None, after={"a": 1}),
                FsmRecord(key=f"{bot.id}:42:42", state="Reg:name", data={"name": "x"}),
            ]
        )
        subscription = await s.scalar(select(Subscription))
        s.add_all([Order(bot_id=bot.id, user_id=user.id, bot_plan_id=bot_plan.id, method="card_to_card", amount_kopeks=19900,
                         receipt={"text": "чек"}),
                   PanelJob(bot_id=bot.id, subscription_id=subscription.id, action="sync")])
        inbox = PaymentInbox(method="telegram_stars", charge_id="ch_2", payer_telegram_id=42, payload="reg:1", currency="XTR",
                             amount_minor=667, source="update")
        s.add(inbox)
        await s.flush()
        s.add(PlatformRefund(inbox_id=inbox.id, charge_id="ch_2", payer_telegram_id=42, currency="XTR", amount_minor=667, reason="test"))
    async with app.unit_of_work() as s:
        counts = {}
        for model in (Bot, BotAdmin, BotConfiguration, ApiToken, TenantFeatureOverride, TenantPaymentCard,
                      PlanFeatureGrant, TenantSubscription, PlanFeatureFlag, BotFlagException, Subscription, Transaction,
                      TrafficDaily, FlagUsageDaily, Order, PanelJob, PlatformPayment, PaymentInbox, PlatformRefund, AuditEntry,
                      FsmRecord, User, BotPlan, TenantRegistration, TenantSubscriptionPlan, Feature,
                      KeyVerifier,  # pinned by App.open
                      TransactionDaily, SubscriptionDaily):  # filled by the triggers
            counts[model.__tablename__] = len((await s.scalars(select(model))).all())
        # filled by the triggers: one row per day the user counts on (it joined today, its subscription ends in 30 days)
        counts[UserDaily.__tablename__] = len(set((await s.scalars(select(UserDaily.bot_id))).all()))
        assert set(counts.values()) == {1}, counts
        assert len(counts) == len(metadata.tables)
        flag = await s.scalar(select(BotFeatureFlag))  # the view: the exception wins over the plan's snapshot
        assert (flag.bot_id, flag.feature_key, flag.enabled, flag.source, flag.config, flag.user_splits) == (
            bot.id, "yookassa", False, "override", {}, None)
        assert "bot_feature_flags" not in metadata.tables
        bot = await s.scalar(select(Bot))
        assert bot.created_at.tzinfo is not None and bot.updated_at >= bot.created_at
        assert bot.is_master is False and bot.default_language == "ru"
        config = await s.scalar(select(BotConfiguration))
        assert config.value == {"nested": [1, 2]}
        override = await s.scalar(select(TenantFeatureOverride))
        assert override.expires_at == NOW and override.config_override == {}
        user = await s.scalar(select(User))
        assert user.first_name == "Али"
        sub = await s.scalar(select(Subscription))
        assert sub.traffic_used_bytes == 2**40
        payment = await s.scalar(select(PlatformPayment))
        assert payment.receipt == {"text": "оплачено"} and payment.status == "pending"


async def _expect_rejected(app, *rows) -> None:
    with pytest.raises(IntegrityError):
        async with app.unit_of_work() as s:
            s.add_all(rows)
            await s.flush()


async def test_constraints_reject_bad_rows(app) -> None:
    async with app.unit_of_work() as s:
        s.add_all([a_bot(1), TenantSubscriptionPlan(name="p", display_name="P", monthly_price_kopeks=1)])
    # unique bot-token fingerprint
    await _expect_rejected(app, a_bot(1, name="another"))
    # only one master bot
    await _expect_rejected(app, a_bot(2, is_master=True), a_bot(3, is_master=True))
    # a status outside the allowed set
    await _expect_rejected(app, a_bot(4, status="deleted"))
    # tenant names are unique by their key: case, spacing and look-alikes (Cyrillic В, о, т; 1 and l) aside
    await _expect_rejected(app, a_bot(5, name="BOT  1"))
    await _expect_rejected(app, a_bot(5, name="Вот l"))
    # the master may share a tenant's name; a Telegram bot has one row that is not cancelled
    async with app.unit_of_work() as s:
        s.add_all([a_bot(6, name="bot 1", is_master=True), a_bot(7, telegram_id=77, status="cancelled"),
                   a_bot(8, telegram_id=77)])
    await _expect_rejected(app, a_bot(9, telegram_id=77))
    # one key verifier
    await _expect_rejected(app, KeyVerifier(id=2, verifier="v"))
    # one subscription per bot
    await _expect_rejected(
        app,
        TenantSubscription(bot_id=1, plan_tier_id=1),
        TenantSubscription(bot_id=1, plan_tier_id=1),
    )
    # unique (bot_id, telegram_id) for end users
    await _expect_rejected(app, User(bot_id=1, telegram_id=5), User(bot_id=1, telegram_id=5))
    # a foreign key to a bot that does not exist
    await _expect_rejected(app, User(bot_id=999, telegram_id=5))
    # one external id per payment method
    await _expect_rejected(
        app,
        PlatformPayment(purpose="activation", method="manual", amount_minor=1, external_id="R1"),
        PlatformPayment(purpose="renewal", method="manual", amount_minor=2, external_id="R1"),
    )
    # negative money
    await _expect_rejected(app, TenantSubscriptionPlan(name="neg", display_name="N", monthly_price_kopeks=-1))
    # the same external id under two methods is fine, and two NULL external ids are fine
    async with app.unit_of_work() as s:
        s.add_all(
            [
                PlatformPayment(purpose="activation", method="manual", amount_minor=1, external_id="R1"),
                PlatformPayment(purpose="activation", method="card_to_card", amount_minor=1, external_id="R1"),
                PlatformPayment(purpose="activation", method="card_to_card", amount_minor=1),
                PlatformPayment(purpose="activation", method="card_to_card", amount_minor=1),
            ]
        )


async def test_on_delete_rules(app) -> None:
    async with app.unit_of_work() as s:
        plan = TenantSubscriptionPlan(name="p", display_name="P", monthly_price_kopeks=1)
        bot = a_bot(1)
        s.add_all([plan, bot, a_feature()])
        await s.flush()
        s.add_all(
            [
                User(bot_id=bot.id, telegram_id=1),
                TenantSubscription(bot_id=bot.id, plan_tier_id=plan.id),
                PlanFeatureFlag(plan_tier_id=plan.id, active=True, feature_key="yookassa", enabled=True, source="plan"),
                BotFlagException(bot_id=bot.id, feature_key="yookassa", enabled=False, source="override"),
                PlatformPayment(bot_id=bot.id, purpose="renewal", method="manual", amount_minor=1),
            ]
        )
    # a plan with subscribers cannot be deleted (RESTRICT)
    with pytest.raises(IntegrityError):
        async with app.unit_of_work() as s:
            await s.execute(text("DELETE FROM tenant_subscription_plans"))
    # deleting the bot cascades to its data, and keeps its payments (SET NULL)
    async with app.unit_of_work() as s:
        await s.execute(text("DELETE FROM bots"))
    async with app.unit_of_work() as s:
        assert (await s.scalars(select(User))).all() == []
        assert (await s.scalars(select(BotFeatureFlag))).all() == []
        assert (await s.scalars(select(BotFlagException))).all() == []
        assert len((await s.scalars(select(PlanFeatureFlag))).all()) == 1  # the plan's, kept
        assert (await s.scalars(select(TenantSubscription))).all() == []
        payment = await s.scalar(select(PlatformPayment))
        assert payment is not None and payment.bot_id is None


async def test_updated_at_is_maintained(app) -> None:
    async with app.unit_of_work() as s:
        bot = a_bot(1)
        s.add(bot)
    created = bot.updated_at
    async with app.unit_of_work() as s:
        if app.engine.dialect.name == "sqlite":
            await s.execute(text("UPDATE bots SET created_at = datetime('now', '-1 hour'), updated_at = datetime('now', '-1 hour')"))
        else:
            await s.execute(text("UPDATE bots SET created_at = now() - interval '1 hour', updated_at = now() - interval '1 hour'"))
    async with app.unit_of_work() as s:
        bot = await s.get(Bot, bot.id, populate_existing=True)
        old = bot.updated_at
        bot.status = "active"
    async with app.unit_of_work() as s:
        bot = await s.get(Bot, bot.id, populate_existing=True)
        assert bot.updated_at > old and bot.updated_at >= created - timedelta(seconds=1)
        assert bot.created_at == old


async def test_upgrade_downgrade_upgrade_and_no_drift(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        async with engine.connect() as conn:
            leftover = await conn.run_sync(lambda c: set(inspect(c).get_table_names()) - {"alembic_version"})
        assert leftover == set()
        await migrate.upgrade(engine)

        def diff(conn):
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, metadata)

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_behind_schema_is_refused_on_postgres_and_upgraded_on_sqlite(empty_db_url: str) -> None:
    from tenantctl.core.errors import ConfigError

    engine = create_engine(empty_db_url)
    try:
        if engine.dialect.name == "sqlite":
            await migrate.ensure_schema(engine, auto_upgrade=True)
            assert await migrate.current_revision(engine) == migrate.head_revision()
        else:
            with pytest.raises(ConfigError, match="tenantctl db upgrade"):
                await migrate.ensure_schema(engine, auto_upgrade=False)
    finally:
        await engine.dispose()


def test_utcnow_is_aware() -> None:
    assert utcnow().tzinfo is timezone.utc


def test_the_start_up_check_agrees_with_alembic_and_does_not_import_it() -> None:
    import subprocess
    import sys

    from alembic.script import ScriptDirectory

    assert migrate.head_revision() == ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    code = "import sys, tenantctl.core.app, tenantctl.core.migrate; print('alembic' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
