"""The runner and the key: webhook secrets are derived (nothing in the database opens a webhook), a new
key sets every webhook again with new secrets, and one unreadable token stops only its own bot."""

from __future__ import annotations

import dataclasses
import logging
import re

import aiohttp
from sqlalchemy import select

from tenantctl.bot.runner import Runner, WebhookConfig
from tenantctl.core.app import App
from tenantctl.core.crypto import SecretBox
from tenantctl.models import metadata
from tenantctl.onboarding.keys import rotate_secret_key
from tenantctl.tenants.models import Bot
from tenantctl.tenants.service import provision_tenant
from tenantctl.tenants.telegram import BotIdentity
from tenantctl.testing.fake_telegram import FakeBot, FakeTelegram
from tests.bot.conftest import USER, Chat, master_of
from tests.bot.test_runner import free_port

UPDATE = {"update_id": 99, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "hi"}}
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as a secret_token


async def add_tenant(app: App, fake: FakeTelegram, name: str) -> tuple[int, FakeBot]:
    fbot = fake.add_bot(username=f"{name.lower()}_vpn_bot", first_name=name)
    async with app.unit_of_work() as session:
        result = await provision_tenant(session, name=name, token=fbot.token, owner_telegram_id=USER, plan="basic",
                                        box=app.secret_box, actor="test", language="en",
                                        identity=BotIdentity(fbot.id, fbot.username, fbot.first_name))
    return result.bot.id, fbot


async def every_stored_value(app: App) -> set[str]:
    """Every value in every row of every table that could be sent as a secret token."""
    async with app.unit_of_work() as session:
        values = {str(value) for table in metadata.sorted_tables for row in (await session.execute(select(table))).all()
                  for value in row if value is not None}
    return {value for value in values if SECRET_TOKEN.fullmatch(value)}


async def post(url: str, secret: str | None) -> int:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with aiohttp.ClientSession() as http, http.post(url, json=UPDATE, headers=headers) as response:
        return response.status


async def test_webhook_secrets_are_derived_and_rotate_with_the_key(bot_app: App, fake: FakeTelegram) -> None:
    tenant_id, _ = await add_tenant(bot_app, fake, "Derived")
    port = free_port()
    webhook = WebhookConfig(public_url=f"http://127.0.0.1:{port}", port=port)
    runner = Runner(bot_app, webhook=webhook, interval=0.2)
    await runner.start()
    try:
        master_id = next(bot_id for bot_id, running in runner.bots.items() if running.info.is_master)
        old = bot_app.secret_box
        assert master_of(bot_app).webhook["secret_token"] == old.webhook_secret(master_id)
        url = f"http://127.0.0.1:{port}/webhook/{master_id}"
        stored = await every_stored_value(bot_app)
        assert len(stored) > 20  # tokens' fingerprints, usernames, config values...
        for value in stored:  # a database dump gives nothing to forge an update with
            assert await post(url, value) == 401, value
        assert await post(url, "wrong") == 401 and await post(url, None) == 401
        assert await post(url, old.webhook_secret(master_id)) == 200
        assert await post(f"http://127.0.0.1:{port}/webhook/{tenant_id}", old.webhook_secret(master_id)) == 401
    finally:
        await runner.stop()

    new_key = SecretBox.generate_key()
    new = SecretBox(new_key)
    async with bot_app.unit_of_work() as session:
        await rotate_secret_key(session, old=old, new=new, actor="test")
    rotated = await App.open(dataclasses.replace(bot_app.settings, secret_key=new_key))
    runner = Runner(rotated, webhook=webhook, interval=0.2)
    await runner.start()  # every webhook is set again, with the new key's secrets
    try:
        assert sorted(runner.bots) == sorted([master_id, tenant_id])
        assert master_of(bot_app).webhook["secret_token"] == new.webhook_secret(master_id) != old.webhook_secret(master_id)
        assert await post(url, old.webhook_secret(master_id)) == 401
        assert await post(url, new.webhook_secret(master_id)) == 200
    finally:
        await runner.stop()
        await rotated.close()


async def test_a_token_that_cannot_be_decrypted_stops_only_its_bot(bot_app: App, fake: FakeTelegram, caplog) -> None:
    good, good_bot = await add_tenant(bot_app, fake, "Good")
    broken, _ = await add_tenant(bot_app, fake, "Broken")
    async with bot_app.unit_of_work() as session:
        row = await session.get(Bot, broken)
        row.token_encrypted = SecretBox(SecretBox.generate_key()).encrypt("123:written-under-another-key")
    caplog.set_level(logging.ERROR, logger="tenantctl.bot.runner")
    runner = Runner(bot_app, interval=0.05, poll_timeout=1)
    await runner.start()
    try:
        assert good in runner.bots and broken not in runner.bots and len(runner.bots) == 2  # the master too
        await Chat(good_bot).send("/start", "Welcome to Good!")
        reports = [r.getMessage() for r in caplog.records if "cannot be decrypted" in r.getMessage()]
        assert reports == [f"bot {broken} (Broken) not started: its token cannot be decrypted with TENANTCTL_SECRET_KEY"]
    finally:
        await runner.stop()
