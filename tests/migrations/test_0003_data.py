"""Revision 0003 carries existing bots over: name keys are filled in, stored webhook secrets go (and come back
random on the way down), rows pointing at a bot survive SQLite's table rebuild, and bots the new
constraints would refuse stop the upgrade with their ids."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from tenantctl.core import migrate
from tenantctl.core.db import create_engine
from tenantctl.core.errors import ConfigError

BOT = ("INSERT INTO bots (id, is_master, name, telegram_id, token_encrypted, token_fingerprint, status, webhook_secret)"
       " VALUES ({id}, {master}, '{name}', {telegram_id}, 'x', 'f{id}', '{status}', 'secret-{id}')")


def bot(id: int, name: str, *, master: bool = False, telegram_id: int | None = None, status: str = "active") -> str:
    return BOT.format(id=id, name=name, master=str(master).lower(), telegram_id=telegram_id or "NULL", status=status)


async def _at_0002_with(engine, *statements: str) -> None:
    await migrate.upgrade(engine, "0002")
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def test_0003_fills_name_keys_drops_webhook_secrets_and_keeps_dependent_rows(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await _at_0002_with(
            engine,
            bot(1, "Tenant One", master=True, telegram_id=5),
            bot(2, "Tenant  One", telegram_id=6),  # the master's name may be shared
            bot(3, "Old Shop", telegram_id=6, status="cancelled"),  # a cancelled copy of a live bot
            "INSERT INTO bot_admins (bot_id, telegram_user_id, role) VALUES (2, 50, 'owner')",
        )
        await migrate.upgrade(engine, "0003")
        async with engine.connect() as conn:
            keys = (await conn.execute(text("SELECT id, name_key FROM bots ORDER BY id"))).all()
            admins = (await conn.execute(text("SELECT bot_id, telegram_user_id FROM bot_admins"))).all()
            columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("bots")})
        assert [tuple(k) for k in keys] == [(1, "tenant one"), (2, "tenant one"), (3, "old shop")]
        assert [tuple(a) for a in admins] == [(2, 50)]
        assert "webhook_secret" not in columns

        await migrate.downgrade(engine, "0002")
        async with engine.connect() as conn:
            secrets = (await conn.execute(text("SELECT webhook_secret FROM bots ORDER BY id"))).scalars().all()
            admins = (await conn.execute(text("SELECT bot_id FROM bot_admins"))).scalars().all()
        assert len(set(secrets)) == 3 and all(len(s) >= 32 and not s.startswith("secret-") for s in secrets)
        assert admins == [2]
    finally:
        await engine.dispose()


async def test_0003_refuses_bots_that_look_alike_or_are_one_telegram_bot(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await _at_0002_with(engine, bot(1, "Tenant One", telegram_id=7), bot(2, "Tеnant One"),  # Cyrillic е
                            bot(3, "Shop", telegram_id=7), bot(4, "Other", telegram_id=7, status="cancelled"))
        with pytest.raises(ConfigError) as refused:
            await migrate.upgrade(engine, "0003")
        message = str(refused.value)
        assert "bots 1 'Tenant One', 2 'Tеnant One' look alike" in message
        assert "bots 1, 3 are Telegram bot 7" in message and "rename or cancel all but one" in message
        assert await migrate.current_revision(engine) == "0002"
    finally:
        await engine.dispose()
