"""SQL statements per Stars registration, driven through the fake Bot API and the real runner.

Every statement an update's handling sends is counted (the supervisor's own rounds are not: they
run on a timer, not per update). The count is printed, so `pytest -s` shows it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from tenantctl.bot.runner import Runner
from tenantctl.core.app import App
from tenantctl.testing.fake_telegram import FakeTelegram
from tests.bot.conftest import USER, Chat, master_of, register_until_payment

MAX_STATEMENTS = 60


async def test_stars_registration_statement_count(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        task = asyncio.current_task()
        if task is None or task.get_name() != "supervisor":
            statements.append(statement)

    master = master_of(bot_app)
    chat = Chat(master)
    event.listen(bot_app.engine.sync_engine, "before_cursor_execute", count)
    try:
        await register_until_payment(chat, fake.add_bot(username="counted_bot"), "Telegram Stars")
        invoice = await chat.press("Confirm", "Bot activation")
        mark = master.mark()
        master.checkout(USER, invoice.result)
        await chat.wait("API token", mark)
    finally:
        event.remove(bot_app.engine.sync_engine, "before_cursor_execute", count)
    selects = sum(s.lstrip().upper().startswith("SELECT") for s in statements)
    print(f"\none Stars registration: {len(statements)} SQL statements ({selects} SELECT)")
    assert len(statements) <= MAX_STATEMENTS, "\n".join(statements)
