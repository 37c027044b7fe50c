"""Side effects wait for the commit: replies after it, none if it fails, no Telegram call inside a
transaction, and buttons that do not parse answered politely."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tenantctl.bot.routers import registration
from tenantctl.bot.runner import Runner
from tenantctl.core.app import App
from tenantctl.onboarding.service import open_registration_and_language
from tenantctl.testing.fake_telegram import FakeTelegram
from tests.bot.conftest import USER, Chat, master_of, register_until_payment, text_of
from tests.conftest import MASTER_ADMIN_ID


def quiet_runner(app: App) -> Runner:
    """A runner whose supervisor stays idle, so the update under test is the only database user."""
    return Runner(app, interval=3600, poll_timeout=1)


@contextmanager
def at_next_commit(hook: Callable[[Session], None]) -> Iterator[None]:
    """Run `hook` at the next commit of any session within the block (and not after it)."""
    event.listen(Session, "before_commit", hook, once=True)
    try:
        yield
    finally:
        if event.contains(Session, "before_commit", hook):
            event.remove(Session, "before_commit", hook)


async def test_a_failed_commit_sends_the_generic_error_and_nothing_queued(bot_app: App, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    runner = quiet_runner(bot_app)
    await runner.start()
    try:
        await chat.send("/register_tenant", "Step 1/7")

        def refuse(session: Session) -> None:
            raise RuntimeError("the database refused the commit")

        with at_next_commit(refuse):
            mark = master.mark()
            await chat.send("/cancel", "Something went wrong")
        assert not any("cancelled" in text_of(call) for call in master.calls("sendMessage", USER)[mark:])
    finally:
        await runner.stop()
    async with bot_app.unit_of_work() as session:
        draft, _ = await open_registration_and_language(session, telegram_user_id=USER)
    assert draft is not None and draft.status == "draft"  # the cancellation never landed, and nobody was told it did


async def test_a_busy_database_at_commit_runs_the_update_again_and_sends_once(bot_app: App, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    runner = quiet_runner(bot_app)
    await runner.start()
    try:
        await chat.send("/register_tenant", "Step 1/7")

        def busy(session: Session) -> None:
            raise OperationalError("COMMIT", {}, Exception("database is locked"))

        with at_next_commit(busy):
            mark = master.mark()
            await chat.send("/cancel", "Registration cancelled")
            await asyncio.sleep(0.3)
        sent = [text_of(call) for call in master.sent[mark:] if call.method == "sendMessage" and call.params.get("chat_id") == USER]
        assert sum("cancelled" in text for text in sent) == 1 and not any("went wrong" in text for text in sent)
    finally:
        await runner.stop()
    async with bot_app.unit_of_work() as session:
        draft, _ = await open_registration_and_language(session, telegram_user_id=USER)
    assert draft is None  # the second run committed the cancellation


async def test_get_me_runs_with_no_transaction_open(bot_app: App, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    open_transactions = 0
    seen: list[int] = []

    def began(conn: Any) -> None:
        nonlocal open_transactions
        open_transactions += 1

    def ended(conn: Any) -> None:
        nonlocal open_transactions
        open_transactions -= 1

    async def get_me(*args: Any, **kwargs: Any) -> Any:
        seen.append(open_transactions)
        return await real_get_me(*args, **kwargs)

    real_get_me = registration.get_me
    monkeypatch.setattr(registration, "get_me", get_me)
    engine = bot_app.engine.sync_engine
    master = master_of(bot_app)
    chat = Chat(master)
    runner = quiet_runner(bot_app)
    await runner.start()
    listeners = [("begin", began), ("commit", ended), ("rollback", ended)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        await chat.send("/register_tenant", "Step 1/7")
        await chat.send("Quiet VPN", "Step 2/7")
        await chat.send(fake.add_bot(username="quiet_bot").token, "Step 3/7")
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
        await runner.stop()
    assert seen == [0]


async def test_forged_and_stale_buttons_get_a_polite_answer(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    await register_until_payment(chat, fake.add_bot(username="forged_bot"), "Card transfer")
    message = chat.last_with_button("Confirm")
    for data in ("rv:a:xyz", "rv:a:1:2", "plan:abc", "pay:" + "x" * 40, "reg:dance", "nonsense", "reg:lang:en"):
        mark = master.mark()
        master.press_button(MASTER_ADMIN_ID, message, data, forged=True)
        answer = await master.wait_for("answerCallbackQuery", after=mark)
        assert answer.params.get("text") == "This button has expired.", data
    mark = master.mark()  # a well-formed registration button from another step says so
    master.press_button(USER, message, "plan:1", forged=True)
    answer = await master.wait_for("answerCallbackQuery", after=mark)
    assert "earlier step" in answer.params["text"]
    await chat.press("Confirm", "6037")  # and the registration goes on as if nothing had happened
