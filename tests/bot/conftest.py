"""Bot fixtures: the fake Bot API, a registered master bot, a plan, a card, and the real runner."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from tenantctl.bot.runner import Runner, WebhookConfig
from tenantctl.core.app import App
from tenantctl.core.settings import Settings
from tenantctl.customers.models import TenantPaymentCard
from tenantctl.plans.service import create_plan
from tenantctl.tenants.master import register_master
from tenantctl.tenants.telegram import BotIdentity
from tenantctl.testing.fake_telegram import Call, FakeBot, FakeTelegram, buttons

USER = 2001


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest_asyncio.fixture
async def bot_app(settings: Settings, fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[App]:
    """An App talking to the fake Bot API, with a master bot, one plan and one master card."""
    opened = await App.open(dataclasses.replace(settings, telegram_api_server=fake.base_url))
    master = fake.add_bot(username="master_bot", first_name="Master")
    env = tmp_path / "master.env"
    env.write_text(f"BOT_TOKEN={master.token}\nDEFAULT_LANGUAGE=en\n")
    async with opened.unit_of_work() as session:
        report = await register_master(session, token=master.token, env_path=str(env), box=opened.secret_box, actor="test",
                                       identity=BotIdentity(master.id, master.username, master.first_name))
        await create_plan(session, name="basic", display_name="Basic", monthly_price_kopeks=100_000,
                          activation_fee_kopeks=300_000, actor="test")
        session.add(TenantPaymentCard(bot_id=report.bot.id, card_number="6037 9911 2233 4455", holder_name="Ivan Petrov"))
    opened.master = master  # the FakeBot of the master, for the tests
    try:
        yield opened
    finally:
        await opened.close()


def master_of(app: App) -> FakeBot:
    return app.master  # type: ignore[attr-defined]


@pytest_asyncio.fixture
async def runner(bot_app: App) -> AsyncIterator[Runner]:
    """The real runner, polling the fake."""
    running = Runner(bot_app, interval=0.2, poll_timeout=1)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def start_webhook_runner(app: App) -> Runner:
    return Runner(app, webhook=WebhookConfig(public_url="http://127.0.0.1:0", port=0), interval=0.2, poll_timeout=1)


def text_of(call: Call) -> str:
    params = call.params
    return str(params.get("text") or params.get("caption") or params.get("title") or "")


class Chat:
    """One user talking to one bot on the fake: send, press, and wait for the bot's answer."""

    def __init__(self, fbot: FakeBot, user: int = USER, language_code: str = "en") -> None:
        self.fbot, self.user, self.language_code = fbot, user, language_code

    async def wait(self, expect: str, mark: int, *, timeout: float = 5.0) -> Call:
        def match(call: Call) -> bool:
            return (call.ok and call.method in ("sendMessage", "sendInvoice", "sendPhoto")
                    and call.params.get("chat_id") == self.user and expect in text_of(call))

        return await self.fbot.wait_for(match, after=mark, timeout=timeout)

    async def send(self, text: str, expect: str) -> Call:
        mark = self.fbot.mark()
        self.fbot.send_message(self.user, text, language_code=self.language_code)
        return await self.wait(expect, mark)

    async def photo(self, expect: str) -> Call:
        mark = self.fbot.mark()
        self.fbot.send_photo(self.user)
        return await self.wait(expect, mark)

    def last_with_button(self, label: str) -> dict[str, Any]:
        for message in reversed(self.fbot.messages(self.user)):
            if any(label in text for text, _ in buttons(message)):
                return message
        raise AssertionError(f"no message with a button {label!r}")

    async def press(self, label: str, expect: str) -> Call:
        message = self.last_with_button(label)
        data = next(d for text, d in buttons(message) if label in text)
        mark = self.fbot.mark()
        self.fbot.press_button(self.user, message, data)
        return await self.wait(expect, mark)


async def register_until_payment(chat: Chat, tenant: FakeBot, method: str) -> Call:
    """Walk the happy path from /register_tenant to the confirmation, choosing `method`."""
    await chat.send("/register_tenant", "Step 1/7")
    await chat.send("My VPN", "Step 2/7")
    await chat.send(tenant.token, "Step 3/7")
    await chat.press("English", "Step 4/7")
    await chat.press("Skip", "Step 5/7")
    await chat.press("Basic", "Step 6/7")
    return await chat.press(method, "Step 7/7")
