"""A `tenantctl bot run` process killed (SIGKILL) while a paid activation is in flight loses nothing.

The fake Bot API has handed the successful_payment out; the database stops the bot either before
its inbox write or after it, before completion commits; then the process is killed. After a restart and `billing reconcile` there is exactly one tenant and one payment (or one
refund): never none, never two.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from tenantctl.billing.models import PaymentInbox, PlatformPayment, PlatformRefund
from tenantctl.bot.runner import Runner, WebhookConfig
from tenantctl.core.app import App
from tenantctl.onboarding import service as reg
from tenantctl.tenants.models import Bot
from tenantctl.tenants.tokens import authenticate
from tenantctl.testing.fake_telegram import FakeTelegram
from tests.bot.conftest import USER, Chat, master_of, register_until_payment, text_of
from tests.bot.test_runner import free_port
from tests.conftest import MASTER_ADMIN_ID, TEST_SECRET_KEY

CLI = [sys.executable, "-c", "from tenantctl.cli.main import app; app()"]


def _env(app: App) -> dict[str, str]:
    master = master_of(app)
    return {**os.environ, "DATABASE_URL": app.settings.database_url, "TENANTCTL_SECRET_KEY": TEST_SECRET_KEY,
            "MASTER_ADMIN_IDS": str(MASTER_ADMIN_ID), "TELEGRAM_API_SERVER": app.settings.telegram_api_server,
            "MASTER_BOT_TOKEN": master.token}


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def _failing_inserts(app: App, table: str) -> Iterator[None]:
    """Every INSERT into `table` fails with a database error (a trigger) until the block ends."""
    url = app.settings.database_url
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(url.split("///", 1)[1], isolation_level=None, check_same_thread=False, timeout=30)) as conn:
            conn.execute(f"CREATE TRIGGER crash_test BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
            try:
                yield
            finally:
                conn.execute("DROP TRIGGER crash_test")
        return
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("CREATE FUNCTION crash_test() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql")
        conn.execute(f"CREATE TRIGGER crash_test BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION crash_test()")
        try:
            yield
        finally:
            conn.execute(f"DROP TRIGGER crash_test ON {table}")
            conn.execute("DROP FUNCTION crash_test()")


@asynccontextmanager
async def _failing_inserts_here(app: App, table: str) -> AsyncIterator[None]:
    """`_failing_inserts` beside a bot running in this process: its DDL runs in a thread, so that waiting for the
    bot's transactions to end never blocks the event loop they need."""
    failing = _failing_inserts(app, table)
    await asyncio.to_thread(failing.__enter__)
    try:
        yield
    finally:
        await asyncio.to_thread(failing.__exit__, None, None, None)


@contextmanager
def _held(app: App, stage: str, registration_id: int) -> Iterator[None]:
    """Stop the bot at `stage`: "inbox" (before recording the payment) or "completion" (recorded, not completed).

    PostgreSQL: a lock the bot waits on (the inbox table, or the registration's row) until it is killed.
    SQLite has no lock that stops one write and not the others, so a trigger fails that write instead
    (a database error) until the bot is dead: the inbox insert, or the tenant's insert in completion.
    """
    url = app.settings.database_url
    if url.startswith("sqlite"):
        with _failing_inserts(app, "payment_inbox" if stage == "inbox" else "bots"):
            yield
        return
    with psycopg.connect(_libpq(url), autocommit=False) as conn:
        if stage == "inbox":
            conn.execute("LOCK TABLE payment_inbox IN EXCLUSIVE MODE")
        else:
            conn.execute("SELECT 1 FROM tenant_registrations WHERE id = %s FOR UPDATE", (registration_id,))
        yield
        conn.rollback()


async def _count(app: App) -> dict[str, int]:
    async with app.unit_of_work() as session:
        async def n(model: Any, *where: Any) -> int:
            return await session.scalar(select(func.count()).select_from(model).where(*where))

        return {"tenants": await n(Bot, Bot.is_master.is_(False)),
                "payments": await n(PlatformPayment, PlatformPayment.purpose == "activation", PlatformPayment.status == "succeeded"),
                "refunds": await n(PlatformRefund), "inbox": await n(PaymentInbox)}


async def _wait(predicate: Any, timeout: float = 15.0, *, required: bool = True) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() >= deadline:
            assert not required, "timed out"
            return
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("stage", ["inbox", "completion"])
async def test_a_killed_bot_loses_no_paid_activation(bot_app: App, fake: FakeTelegram, stage: str) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    runner = Runner(bot_app, interval=0.2, poll_timeout=1)  # in process, up to the invoice
    await runner.start()
    try:
        await register_until_payment(chat, fake.add_bot(username="crash_bot"), "Telegram Stars")
        invoice = await chat.press("Confirm", "Bot activation")
    finally:
        await runner.stop()
    async with bot_app.unit_of_work() as session:
        draft, _ = await reg.open_registration_and_language(session, telegram_user_id=USER)

    env = _env(bot_app)
    with _held(bot_app, stage, draft.id):
        bot = subprocess.Popen([*CLI, "bot", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            mark = master.mark()
            await master.wait_for(lambda call: call.method == "getStarTransactions", after=mark, timeout=60)  # it runs (started under load, aiogram alone takes seconds to import)
            await asyncio.sleep(0.5)  # and polls
            master.checkout(USER, invoice.result)  # the bot answers the pre-checkout query; Telegram then delivers the payment
            await master.wait_for(lambda call: call.method == "answerPreCheckoutQuery", after=mark, timeout=20)
            charge = master.payments[-1]["telegram_payment_charge_id"]
            await asyncio.sleep(1.5)  # the successful_payment is handed out, and the bot waits on the held database
            if stage == "completion":
                async def recorded() -> bool:
                    return (await _count(bot_app))["inbox"] == 1
                await _wait(recorded)
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=10)
        finally:
            if bot.poll() is None:
                bot.kill()
    before = await _count(bot_app)
    assert before["tenants"] == 0 and before["inbox"] == (1 if stage == "completion" else 0), before

    restarted = subprocess.Popen([*CLI, "bot", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async def settled() -> bool:
            counts = await _count(bot_app)
            return counts["tenants"] + counts["refunds"] >= 1
        # a redelivered update is settled by the bot; one acknowledged before the crash waits for reconcile
        await _wait(settled, timeout=8, required=False)
    finally:
        restarted.send_signal(signal.SIGTERM)
        await asyncio.to_thread(restarted.wait, 30)  # the loop keeps serving the fake Bot API meanwhile
    result = await asyncio.to_thread(subprocess.run, [*CLI, "billing", "reconcile", "--json"], env=env, capture_output=True, text=True,
                                     timeout=60)
    assert result.returncode == 0, result.stderr
    assert charge in {entry["id"] for entry in master._star_transactions()}
    assert all(fix["action"] != "not_processed" for fix in json.loads(result.stdout)["fixes"])

    after = await _count(bot_app)
    assert (after["tenants"], after["payments"], after["refunds"]) in ((1, 1, 0), (0, 0, 1)), after
    assert after["inbox"] == 1
    verify = await asyncio.to_thread(subprocess.run, [*CLI, "billing", "verify"], env=env, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and "0 discrepancies" in verify.stdout, verify.stdout + verify.stderr


async def test_a_webhook_payment_is_answered_200_only_once_it_is_in_the_inbox(bot_app: App, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    port = free_port()
    runner = Runner(bot_app, webhook=WebhookConfig(public_url=f"http://127.0.0.1:{port}", port=port), interval=0.2)
    await runner.start()
    try:
        await register_until_payment(chat, fake.add_bot(username="hook_bot"), "Telegram Stars")
        invoice = await chat.press("Confirm", "Bot activation")
        async with _failing_inserts_here(bot_app, "payment_inbox"):
            mark = master.mark()
            delivered = len(master.webhook_deliveries)
            master.checkout(USER, invoice.result)
            await chat.wait("went wrong", mark)

            async def both_delivered() -> bool:  # the pre-checkout query and the payment
                return len(master.webhook_deliveries) >= delivered + 2
            await _wait(both_delivered, timeout=10)
        paid = next(m for m in master._messages.values() if "successful_payment" in m)
        assert [status for _, status in master.webhook_deliveries[delivered:]] == [200, 500]  # Telegram will deliver it again
        assert (await _count(bot_app))["inbox"] == 0

        mark = master.mark()
        delivered = len(master.webhook_deliveries)
        master._inject("message", paid)  # Telegram's retry
        await chat.wait("API token", mark)

        async def retried() -> bool:
            return len(master.webhook_deliveries) > delivered
        await _wait(retried, timeout=10)
        assert master.webhook_deliveries[-1][1] == 200
        assert await _count(bot_app) == {"tenants": 1, "payments": 1, "refunds": 0, "inbox": 1}
    finally:
        await runner.stop()


async def test_an_activation_that_reconcile_settles_still_gives_its_owner_the_api_token(bot_app: App, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    runner = Runner(bot_app, interval=0.2, reconcile_interval=0.2, payment_grace=timedelta(0))
    await runner.start()
    try:
        await register_until_payment(chat, fake.add_bot(username="late_bot"), "Telegram Stars")
        invoice = await chat.press("Confirm", "Bot activation")
        async with _failing_inserts_here(bot_app, "bots"):  # the payment is recorded; the tenant cannot be created yet
            mark = master.mark()
            master.checkout(USER, invoice.result)
            await chat.wait("safely recorded", mark)
            mark = master.mark()
            assert (await _count(bot_app))["tenants"] == 0
        told = text_of(await chat.wait("Your API token: ", mark, timeout=15))
        token = told.split("Your API token: ", 1)[1].split()[0]
        async with bot_app.unit_of_work() as session:
            _, tenant = await authenticate(session, token=token)
        assert tenant.username == "late_bot"
        assert await _count(bot_app) == {"tenants": 1, "payments": 1, "refunds": 0, "inbox": 1}
    finally:
        await runner.stop()
