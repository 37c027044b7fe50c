"""The runner itself: webhook mode, renewals and expiry notices, and racing completions."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from tenantctl.billing.models import PlatformPayment
from tenantctl.billing.service import billing_tick
from tenantctl.bot.runner import Runner, WebhookConfig
from tenantctl.core.app import App
from tenantctl.core.errors import Conflict
from tenantctl.onboarding import service as reg
from tenantctl.plans.models import TenantSubscription
from tenantctl.tenants.models import Bot
from tenantctl.testing.fake_telegram import FakeTelegram
from tests.bot.conftest import USER, Chat, master_of, register_until_payment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_webhook_mode(bot_app: App) -> None:
    port = free_port()
    runner = Runner(bot_app, webhook=WebhookConfig(public_url=f"http://127.0.0.1:{port}", port=port), interval=0.2)
    await runner.start()
    try:
        master = master_of(bot_app)
        [master_id] = runner.bots
        assert master.webhook["url"] == f"http://127.0.0.1:{port}/webhook/{master_id}"
        assert master.token not in master.webhook["url"]
        await Chat(master).send("/start", "/register_tenant")  # delivered by webhook and answered
        url = f"http://127.0.0.1:{port}/webhook"
        update = {"update_id": 99, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "hi"}}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/{master_id + 1000}", json=update) as response:
                assert response.status == 404
            async with http.post(f"{url}/{master_id}", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as response:
                assert response.status == 401
            async with http.post(f"{url}/{master_id}", json=update) as response:
                assert response.status == 401
    finally:
        await runner.stop()


async def test_renewal_invoice_paid_and_expiry_notice(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master, user=1000)  # a master admin: no fee, quickest way to a tenant
    await register_until_payment(chat, fake.add_bot(username="renew_bot"), "without fee")
    await chat.press("Confirm", "API token")
    async with bot_app.unit_of_work() as session:
        subscription = await session.scalar(select(TenantSubscription))
        end = subscription.end_date
        await billing_tick(session, now=end - timedelta(days=1), grace_days=3, notice_days=3, actor="test")
    mark = master.mark()
    runner.nudge()
    invoice = await chat.wait("Subscription renewal", mark)
    assert invoice.params["currency"] == "XTR" and invoice.params["prices"][0]["amount"] == 100_000 // 150 + 1
    mark = master.mark()
    master.checkout(1000, invoice.result)
    await chat.wait("renewed until", mark)
    async with bot_app.unit_of_work() as session:
        subscription = await session.scalar(select(TenantSubscription))
        assert subscription.end_date > end
        # now let it lapse: the tick expires it, the owner is told once and the bot stops
        await billing_tick(session, now=subscription.end_date + timedelta(days=5), grace_days=3, notice_days=0, actor="test")
    mark = master.mark()
    runner.nudge()
    await chat.wait("has stopped", mark)
    await asyncio.sleep(0.5)
    assert len(runner.bots) == 1  # only the master is left running
    assert sum("has stopped" in (c.params.get("text") or "") for c in master.calls("sendMessage", 1000)) == 1


async def test_racing_completions_make_one_tenant(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    await register_until_payment(chat, fake.add_bot(username="race_bot"), "Telegram Stars")
    await chat.press("Confirm", "Bot activation")
    async with bot_app.unit_of_work() as session:
        draft, _ = await reg.open_registration_and_language(session, telegram_user_id=USER)
        payment = await reg.pending_payment(session, registration_id=draft.id)

    async def complete() -> object:
        async with bot_app.unit_of_work() as session:
            return await reg.complete_paid_registration(
                session, registration_id=draft.id, method=reg.STARS, external_id="stx-race", amount=payment.amount_minor,
                currency="XTR", box=bot_app.secret_box, actor="test")

    results = await asyncio.gather(complete(), complete(), return_exceptions=True)
    assert sum(getattr(r, "provisioned", None) is not None for r in results) == 1, results
    async with bot_app.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Bot).where(Bot.is_master.is_(False))) == 1
        assert await session.scalar(select(func.count()).select_from(PlatformPayment).where(PlatformPayment.status == "succeeded")) == 1
        # and a later, different charge for the finished registration is to be refunded
        with pytest.raises(Conflict) as refused:
            await reg.complete_paid_registration(session, registration_id=draft.id, method=reg.STARS, external_id="stx-other",
                                                 amount=payment.amount_minor, currency="XTR", box=bot_app.secret_box, actor="test")
        assert refused.value.code == "already_paid"


async def test_tenant_bot_shows_its_support_contact_only_when_its_support_mode_offers_one(
    bot_app: App, runner: Runner, fake: FakeTelegram
) -> None:
    from tenantctl.flags.models import Feature
    from tenantctl.tenants.overrides import set_override
    from tenantctl.tenants.service import provision_tenant
    from tenantctl.tenants.telegram import BotIdentity

    tenant = fake.add_bot(username="help_vpn_bot", first_name="Help VPN")
    async with bot_app.unit_of_work() as session:
        session.add(Feature(key="support_tickets", env_key="SUPPORT_SYSTEM_MODE", category="support", kind="mode",
                            allowed_values=["tickets", "contact", "both"], default_enabled=True, default_value="both"))
        await session.flush()
        result = await provision_tenant(session, name="Help VPN", token=tenant.token, owner_telegram_id=USER, plan="basic",
                                        box=bot_app.secret_box, actor="test", language="en", support_username="@help_desk",
                                        identity=BotIdentity(tenant.id, tenant.username, tenant.first_name))
    runner.nudge()
    chat = Chat(tenant)
    greeting = await chat.send("/start", "Welcome to Help VPN!")
    assert "Support: @help_desk" in greeting.params["text"]

    async with bot_app.unit_of_work() as session:  # tickets only: no contact line
        await set_override(session, bot_id=result.bot.id, feature="support_tickets", enabled=None, value="tickets",
                           reason="tickets only", actor="test")
    runner.gate.invalidate(result.bot.id)
    greeting = await chat.send("/start", "Welcome to Help VPN!")
    assert "Support" not in greeting.params["text"]


async def test_the_supervisor_expires_overrides_and_the_bot_follows(bot_app: App, fake: FakeTelegram) -> None:
    from tenantctl.core.db import utcnow
    from tenantctl.flags.models import Feature, TenantFeatureOverride
    from tenantctl.tenants.overrides import set_override
    from tenantctl.tenants.service import provision_tenant
    from tenantctl.tenants.telegram import BotIdentity

    tenant = fake.add_bot(username="expiry_vpn_bot", first_name="Expiry VPN")
    async with bot_app.unit_of_work() as session:
        session.add(Feature(key="support_tickets", env_key="SUPPORT_SYSTEM_MODE", category="support", kind="mode",
                            allowed_values=["tickets", "contact", "both"], default_enabled=True, default_value="both"))
        await session.flush()
        result = await provision_tenant(session, name="Expiry VPN", token=tenant.token, owner_telegram_id=USER,
                                        plan="basic", box=bot_app.secret_box, actor="test", language="en",
                                        support_username="@help_desk",
                                        identity=BotIdentity(tenant.id, tenant.username, tenant.first_name))
        await set_override(session, bot_id=result.bot.id, feature="support_tickets", enabled=None, value="tickets",
                           reason="a week of tickets only", actor="test", expires_at=utcnow() + timedelta(days=7))
    running = Runner(bot_app, interval=0.1, poll_timeout=1, housekeeping_interval=0)
    await running.start()
    try:
        chat = Chat(tenant)
        assert "Support" not in (await chat.send("/start", "Welcome to Expiry VPN!")).params["text"]
        async with bot_app.unit_of_work() as session:  # the week is over
            override = await session.get(TenantFeatureOverride, (result.bot.id, "support_tickets"))
            override.expires_at = utcnow() - timedelta(seconds=1)
        for _ in range(50):  # the supervisor's next round removes it and drops the cached flags
            async with bot_app.unit_of_work() as session:
                if await session.get(TenantFeatureOverride, (result.bot.id, "support_tickets")) is None:
                    break
            await asyncio.sleep(0.1)
        assert "Support: @help_desk" in (await chat.send("/start", "Welcome to Expiry VPN!")).params["text"]
    finally:
        await running.stop()
