"""/register_tenant end to end: the real runner polling the fake Bot API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import copy

import pytest
from sqlalchemy import func, select

from tenantctl.billing.models import PlatformPayment
from tenantctl.bot.runner import Runner
from tenantctl.core.app import App
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.tenants.models import Bot
from tenantctl.testing.fake_telegram import FakeTelegram, buttons
from tests.bot.conftest import USER, Chat, master_of, register_until_payment
from tests.conftest import MASTER_ADMIN_ID


async def counts(app: App) -> tuple[int, int]:
    """(tenant bots, succeeded activation payments)."""
    async with app.unit_of_work() as session:
        bots = await session.scalar(select(func.count()).select_from(Bot).where(Bot.is_master.is_(False)))
        paid = await session.scalar(select(func.count()).select_from(PlatformPayment).where(
            PlatformPayment.purpose == "activation", PlatformPayment.status == "succeeded"))
    return bots, paid


async def test_stars_registration_with_every_invalid_input(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    tenant = fake.add_bot(username="my_vpn_bot", first_name="My VPN")
    await chat.send("/register_tenant", "Step 1/7")
    await chat.send("ab", "3 to 64 characters")
    await chat.send("My VPN", "Step 2/7")
    await chat.send("not-a-token", "not a bot token")
    await chat.send("123456:" + "A" * 35, "did not accept this token")
    await chat.send(master.token, "platform's own bot token")
    await chat.send(tenant.token, "Step 3/7")
    await chat.send("English please", "Choose one of the buttons")
    await chat.press("English", "Step 4/7")
    await chat.send("@ab", "not a Telegram username")
    await chat.send("@my_support", "Step 5/7")
    plans = chat.last_with_button("Basic")["text"]
    assert "1 000.00 RUB" in plans and "3 000.00 RUB" in plans and "2000 ⭐" in plans
    await chat.press("Basic", "Step 6/7")
    await chat.press("Telegram Stars", "Step 7/7")
    invoice = await chat.press("Confirm", "Bot activation")
    assert invoice.method == "sendInvoice"
    assert invoice.params["currency"] == "XTR" and not invoice.params.get("provider_token")
    assert invoice.params["prices"][0]["amount"] == 300_000 // 150

    mark = master.mark()
    master.checkout(USER, invoice.result)
    done = await chat.wait("API token", mark)
    assert master.calls("answerPreCheckoutQuery")[-1].params["ok"] is True
    assert "tc_" in done.params["text"] and "only once" in done.params["text"]
    assert await counts(bot_app) == (1, 1)

    # the new tenant bot serves at once, in its language, with its support line
    greeting = await Chat(tenant).send("/start", "Welcome to My VPN!")
    assert greeting.params["chat_id"] == USER

    # its token cannot be registered again, by anyone
    other = Chat(master, user=USER + 1)
    await other.send("/register_tenant", "Step 1/7")
    await other.send("Second VPN", "Step 2/7")
    await other.send(tenant.token, "already registered")


async def test_duplicate_successful_payment_yields_one_tenant(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    await register_until_payment(chat, fake.add_bot(username="dup_bot"), "Telegram Stars")
    invoice = await chat.press("Confirm", "Bot activation")
    mark = master.mark()
    master.checkout(USER, invoice.result)
    await chat.wait("API token", mark)
    paid = next(m for m in master._messages.values() if "successful_payment" in m)
    mark = master.mark()
    for _ in range(2):  # Telegram delivering the same successful_payment twice more
        master._inject("message", copy.deepcopy(paid))
    await chat.wait("already complete", mark)
    await asyncio.sleep(0.3)
    assert await counts(bot_app) == (1, 1)
    assert sum("API token" in (c.params.get("text") or "") for c in master.calls("sendMessage", USER)) == 1


async def test_paid_registration_that_cannot_complete_is_refunded(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    from tenantctl.plans.service import archive_plan

    master = master_of(bot_app)
    chat = Chat(master)
    await register_until_payment(chat, fake.add_bot(username="late_bot"), "Telegram Stars")
    invoice = await chat.press("Confirm", "Bot activation")
    async with bot_app.unit_of_work() as session:  # the plan is withdrawn while the user pays
        await archive_plan(session, name="basic", actor="test")
    mark = master.mark()
    master.checkout(USER, invoice.result)
    await chat.wait("refunded in full", mark)
    assert [r["telegram_payment_charge_id"] for r in master.refunds] == [master.payments[-1]["telegram_payment_charge_id"]]
    assert await counts(bot_app) == (0, 0)


async def test_card_receipt_approved_by_admin_not_by_others(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    await register_until_payment(chat, fake.add_bot(username="card_bot"), "Card transfer")
    await chat.press("Confirm", "6037 9911 2233 4455")
    mark = master.mark()
    master.send_photo(USER)
    await chat.wait("receipt was sent", mark)
    admin = Chat(master, user=MASTER_ADMIN_ID)
    review = await admin.wait("to review", mark)
    assert review.method == "sendPhoto"

    message = admin.last_with_button("Approve")
    approve = next(data for text, data in buttons(message) if text == "Approve")
    mark = master.mark()
    master.press_button(USER + 5, message, approve)  # not a master admin: as if the button were unknown
    refused = await master.wait_for("answerCallbackQuery", after=mark)
    assert "This button has expired" in refused.params["text"]
    assert await counts(bot_app) == (0, 0)

    mark = master.mark()
    await admin.press("Approve", "approved")
    await chat.wait("API token", mark)
    assert await counts(bot_app) == (1, 1)


async def test_card_receipt_rejected_with_reason(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    await register_until_payment(chat, fake.add_bot(username="rej_bot"), "Card transfer")
    await chat.press("Confirm", "6037")
    admin = Chat(master, user=MASTER_ADMIN_ID)
    mark = master.mark()
    await chat.send("paid 3000 from card *1234 at 12:00", "receipt was sent")
    await admin.wait("to review", mark)
    await admin.press("Reject", "reason for rejecting")
    mark = master.mark()
    await admin.send("the amount is wrong", "rejected")
    told = await chat.wait("not accepted", mark)
    assert "the amount is wrong" in told.params["text"]
    assert await counts(bot_app) == (0, 0)
    await chat.send("paid again, 3000", "receipt was sent")  # a new receipt is accepted


async def test_back_and_cancel(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    tenant = fake.add_bot(username="back_bot")
    await chat.send("/register_tenant", "Step 1/7")
    await chat.send("Back VPN", "Step 2/7")
    await chat.press("Back", "Step 1/7")
    await chat.send("Back VPN 2", "Step 2/7")
    await chat.send(tenant.token, "Step 3/7")
    await chat.press("فارسی", "مرحله ۴ از ۷")  # the conversation follows the chosen language
    await chat.press("بازگشت", "مرحله ۳ از ۷")
    await chat.press("English", "Step 4/7")
    await chat.send("/cancel", "Registration cancelled")
    async with bot_app.unit_of_work() as session:
        status = await session.scalar(select(TenantRegistration.status))
    assert status == "cancelled"
    await chat.send("/register_tenant", "Step 1/7")  # a fresh draft
    await chat.press("Cancel", "Registration cancelled")
    await chat.send("/cancel", "nothing to cancel")


async def test_restart_mid_flow_resumes(bot_app: App, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master)
    tenant = fake.add_bot(username="restart_bot")
    first = Runner(bot_app, interval=0.2, poll_timeout=1)
    await first.start()
    await chat.send("/register_tenant", "Step 1/7")
    await chat.send("Restart VPN", "Step 2/7")
    await first.stop()

    second = Runner(bot_app, interval=0.2, poll_timeout=1)
    await second.start()
    try:
        await chat.send(tenant.token, "Step 3/7")  # the new process knows the step
        await chat.send("/register_tenant", "continue where you left off")
    finally:
        await second.stop()


async def test_master_admin_registers_without_fee(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    chat = Chat(master, user=MASTER_ADMIN_ID)
    await register_until_payment(chat, fake.add_bot(username="free_bot"), "without fee")
    await chat.press("Confirm", "API token")
    async with bot_app.unit_of_work() as session:
        payment = await session.scalar(select(PlatformPayment))
    assert (payment.method, payment.amount_minor, payment.status) == ("waived", 0, "succeeded")


async def test_reject_reason_survives_a_restart_with_redis_storage(bot_app: App, fake: FakeTelegram) -> None:
    """With REDIS_URL set, the one conversation state the master bot keeps (an admin's pending reject
    reason) lives in Redis under a key that carries the bot id; registrations keep theirs in the draft."""
    import dataclasses

    from redis.asyncio import Redis

    url = "redis://127.0.0.1:6379/15"
    client = Redis.from_url(url)
    try:
        await client.ping()
    except Exception as exc:  # any reason Redis is unusable here
        await client.aclose()
        pytest.skip(f"Redis not reachable at {url}: {exc}")
    await client.flushdb()
    bot_app.settings = dataclasses.replace(bot_app.settings, redis_url=url)
    master = master_of(bot_app)
    chat, admin = Chat(master), Chat(master, user=MASTER_ADMIN_ID)
    try:
        first = Runner(bot_app, interval=0.2, poll_timeout=1)
        await first.start()
        await register_until_payment(chat, fake.add_bot(username="redis_restart_bot"), "Card transfer")
        await chat.press("Confirm", "6037")
        mark = master.mark()
        await chat.send("paid 3000", "receipt was sent")
        await admin.wait("to review", mark)
        await admin.press("Reject", "reason for rejecting")
        await first.stop()
        keys = [k.decode() for k in await client.keys("*")]
        assert any(f":{master.id}:" in k for k in keys), keys

        second = Runner(bot_app, interval=0.2, poll_timeout=1)
        await second.start()
        try:
            mark = master.mark()
            await admin.send("wrong amount", "rejected")
            await chat.wait("not accepted", mark)
        finally:
            await second.stop()
    finally:
        await client.flushdb()
        await client.aclose()
