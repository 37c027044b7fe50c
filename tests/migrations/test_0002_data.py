"""Revision 0002 carries existing rows over: unpaid renewals lose the stand-in 'manual' method, amounts keep
their value under `amount_minor`, and owners already told of an expiry are not told again."""

from __future__ import annotations

from sqlalchemy import text

from tenantctl.core import migrate
from tenantctl.core.db import create_engine

ROWS = [
    "INSERT INTO tenant_subscription_plans (id, name, display_name, monthly_price_kopeks, activation_fee_kopeks)"
    " VALUES (1, 'basic', 'Basic', 100000, 0)",
    "INSERT INTO bots (id, is_master, name, token_encrypted, token_fingerprint, status, webhook_secret)"
    " VALUES (1, false, 'Told', 'x', 'f1', 'expired', 's1'), (2, false, 'Untold', 'x', 'f2', 'expired', 's2')",
    "INSERT INTO tenant_subscriptions (bot_id, plan_tier_id, status) VALUES (1, 1, 'expired'), (2, 1, 'expired')",
    "INSERT INTO audit_log (actor, action, entity, bot_id) VALUES ('t', 'tenant.expired', 'bot:1', 1),"
    " ('t', 'tenant.expiry_notified', 'bot:1', 1), ('t', 'tenant.expiry_notified', 'bot:2', 2),"
    " ('t', 'tenant.expired', 'bot:2', 2)",
    "INSERT INTO platform_payments (bot_id, purpose, method, status, amount, currency, external_id) VALUES"
    " (1, 'renewal', 'manual', 'pending', 100000, 'RUB', NULL),"
    " (1, 'renewal', 'manual', 'succeeded', 100000, 'RUB', 'bank-1'),"
    " (2, 'activation', 'telegram_stars', 'succeeded', 667, 'XTR', 'ch-1')",
]


async def test_0002_keeps_the_meaning_of_existing_rows(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await migrate.upgrade(engine, "0001")
        async with engine.begin() as conn:
            for statement in ROWS:
                await conn.execute(text(statement))
        await migrate.upgrade(engine, "0002")
        async with engine.connect() as conn:
            payments = (await conn.execute(text(
                "SELECT status, method, amount_minor FROM platform_payments ORDER BY id"))).all()
            told = (await conn.execute(text(
                "SELECT bot_id, expiry_notified_at IS NOT NULL FROM tenant_subscriptions ORDER BY bot_id"))).all()
        assert [tuple(p) for p in payments] == [("pending", None, 100000), ("succeeded", "manual", 100000),
                                               ("succeeded", "telegram_stars", 667)]
        assert [tuple(t) for t in told] == [(1, True), (2, False)]  # bot 2 expired again after its notice
        await migrate.downgrade(engine, "0001")
        async with engine.connect() as conn:
            methods = (await conn.execute(text("SELECT method, amount FROM platform_payments ORDER BY id"))).all()
        assert [tuple(m) for m in methods] == [("manual", 100000), ("manual", 100000), ("telegram_stars", 667)]
    finally:
        await engine.dispose()
