"""Renewing in a tenant bot's storefront end to end: the reminder sent once from the tenant's bot by the runner's
supervisor (with a Stars invoice of the same plan when auto_renewal is on), the Renew button near the end, a renewal
extending from the old end date, a user who blocked the bot; the fake Bot API and panel, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from tenantctl.bot.routers.storefront import Shop, ShopDo
from tenantctl.core.db import utcnow
from tenantctl.customers.models import BotPlan, Order, Subscription, Transaction, User
from tenantctl.tenants.overrides import set_override
from tenantctl.testing.fake_telegram import Call, FakeBot
from tests.bot.conftest import Chat, text_of
from tests.bot.test_admin_panel import Panel
from tests.bot import test_storefront
from tests.bot.test_storefront import BUYER, STRANGER, Shopfront, count, labels

shopfront = test_storefront.shopfront  # the fixture, shared

REMINDER = "Your subscription ends on"


async def buy(chat: Chat, fbot: FakeBot) -> Call:
    """The user buys Alpha month with Stars and gets the link; the invoice."""
    await chat.send("/start", "Welcome to Alpha!")
    await chat.press("Buy a subscription", "Choose a plan")
    await chat.press("Alpha month", "for 30 days")
    invoice = await chat.press("Telegram Stars", "Alpha month, 30 days")
    mark = fbot.mark()
    fbot.checkout(chat.user, invoice.result)
    await chat.wait("Payment received", mark)
    await chat.wait("Your subscription is ready", mark)
    return invoice


async def ends_in(shopfront: Shopfront, telegram_id: int, delta: timedelta, *, status: str = "active") -> datetime:
    """Move the user's subscription's end to now + delta; the new end."""
    end = utcnow() + delta
    async with shopfront.app.unit_of_work() as session:
        user_id = await session.scalar(select(User.id).where(User.telegram_id == telegram_id, User.bot_id == shopfront.bots["Alpha"][0]))
        await session.execute(update(Subscription).where(Subscription.user_id == user_id).values(end_date=end, status=status))
    return end


async def subscription_of(shopfront: Shopfront, telegram_id: int) -> Subscription:
    async with shopfront.app.unit_of_work() as session:
        return await session.scalar(select(Subscription).join(User, User.id == Subscription.user_id)
                                    .where(User.telegram_id == telegram_id, User.bot_id == shopfront.bots["Alpha"][0]))


def reminders(fbot: FakeBot, user: int, mark: int = 0) -> list[Call]:
    return [c for c in fbot.sent[mark:] if c.method == "sendMessage" and c.params.get("chat_id") == user and REMINDER in text_of(c)]


def remind_now(shopfront: Shopfront) -> None:
    shopfront.runner.reminder_interval = 0.0  # every supervisor round
    shopfront.runner.nudge()


async def test_the_reminder_carries_an_invoice_once_and_paying_it_twice_extends_once(shopfront: Shopfront) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    buyer, far = Chat(fbot, user=BUYER), Chat(fbot, user=STRANGER)
    await buy(buyer, fbot)
    await buy(far, fbot)  # ends in 30 days: not reminded
    end = await ends_in(shopfront, BUYER, timedelta(days=2))
    mark = fbot.mark()
    remind_now(shopfront)
    reminder = await buyer.wait(REMINDER, mark)
    assert end.date().isoformat() in text_of(reminder) and "Alpha month" in text_of(reminder)
    assert labels(reminder)[0] == "🔄 Renew"
    invoice = await buyer.wait("Alpha month, 30 days", mark)
    assert invoice.method == "sendInvoice" and invoice.params["prices"][0]["amount"] == 200
    await asyncio.sleep(1.0)  # several more supervisor rounds: nothing more
    assert len(reminders(fbot, BUYER, mark)) == 1 and reminders(fbot, STRANGER) == []
    assert len(fbot.calls("sendInvoice", chat_id=BUYER)[1:]) == 1  # the purchase's, then the renewal's
    assert (await subscription_of(shopfront, BUYER)).renewal_reminded_at is not None

    mark = fbot.mark()
    fbot.checkout(BUYER, invoice.result)
    await buyer.wait("Payment received: Alpha month", mark)
    paid = [m for m in fbot._messages.values() if "successful_payment" in m][-1]
    fbot._inject("message", copy.deepcopy(paid))  # Telegram delivers the same payment again
    await asyncio.sleep(1.0)
    renewed = await subscription_of(shopfront, BUYER)
    assert renewed.end_date == end + timedelta(days=30)  # from the old end, once
    assert renewed.renewal_reminded_at is None  # a new period
    charge = paid["successful_payment"]["telegram_payment_charge_id"]
    assert await count(shopfront.app, Transaction, bot_id=alpha, external_id=charge) == 1
    assert await count(shopfront.app, Order, bot_id=alpha, status="paid") == 3
    assert reminders(fbot, BUYER, mark) == []


async def test_renew_near_the_end_leads_to_the_plan_and_extends_from_the_old_end(shopfront: Shopfront) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    buyer = Chat(fbot, user=BUYER)
    await buy(buyer, fbot)
    await buyer.send("/start", "Welcome to Alpha!")
    mine = await buyer.press("My subscription", "Subscription: active")
    assert "🔄 Renew" not in labels(mine)  # 30 days left
    end = await ends_in(shopfront, BUYER, timedelta(days=1))
    await buyer.send("/start", "Welcome to Alpha!")
    mine = await buyer.press("My subscription", "Subscription: active")
    assert labels(mine) == ["🔄 Renew", "⌂ Menu"]
    plan = await buyer.press("Renew", "for 30 days")
    assert labels(plan)[:2] == ["Telegram Stars: 200 ⭐", "Card to card: 299.00 ₽"]
    details = await buyer.press("Card to card", "4111111111111111")
    assert "299.00 ₽" in text_of(details)
    plan = await buyer.press("Renew", "for 30 days")  # the same message's button again: the Stars way this time
    invoice = await buyer.press("Telegram Stars", "Alpha month, 30 days")
    mark = fbot.mark()
    fbot.checkout(BUYER, invoice.result)
    await buyer.wait("Payment received", mark)
    assert (await subscription_of(shopfront, BUYER)).end_date == end + timedelta(days=30)

    await ends_in(shopfront, BUYER, -timedelta(days=2), status="expired")  # lapsed: Renew too, from today
    await buyer.send("/start", "Welcome to Alpha!")
    mine = await buyer.press("My subscription", "Subscription: expired")
    assert labels(mine) == ["🔄 Renew", "⌂ Menu"]
    await buyer.press("Renew", "for 30 days")
    assert await count(shopfront.app, Subscription, bot_id=alpha) == 1


async def test_auto_renewal_off_reminds_without_an_invoice_and_renew_of_a_plan_off_sale_answers_politely(shopfront: Shopfront) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    buyer = Chat(fbot, user=BUYER)
    await buy(buyer, fbot)
    async with shopfront.app.unit_of_work() as session:
        await set_override(session, bot_id=alpha, feature="auto_renewal", enabled=False, actor="test", reason="test")
    shopfront.runner.gate.invalidate(alpha)
    await ends_in(shopfront, BUYER, timedelta(days=2))
    mark = fbot.mark()
    remind_now(shopfront)
    reminder = await buyer.wait(REMINDER, mark)
    assert "Renew it to stay connected" in text_of(reminder) and labels(reminder) == ["🔄 Renew", "⌂ Menu"]
    await asyncio.sleep(1.0)
    assert fbot.calls("sendInvoice", chat_id=BUYER)[1:] == [] and len(reminders(fbot, BUYER)) == 1
    assert await count(shopfront.app, Order, bot_id=alpha) == 1

    async with shopfront.app.unit_of_work() as session:  # the plan is taken off sale; another one is on
        await session.execute(update(BotPlan).where(BotPlan.bot_id == alpha).values(is_active=False))
        session.add(BotPlan(bot_id=alpha, name="Alpha year", period_days=365, price_kopeks=299_000))
    plans = await buyer.press("Renew", "That plan is no longer on sale.")
    assert "Choose a plan" in text_of(plans) and labels(plans) == ["Alpha year · 2,990.00 ₽", "⌂ Menu"]
    async with shopfront.app.unit_of_work() as session:  # nothing on sale at all
        await session.execute(update(BotPlan).where(BotPlan.bot_id == alpha).values(is_active=False))
    renew = Shop(do=ShopDo.RENEW).pack()
    assert await Panel(fbot, user=BUYER).alert(renew, buyer.last_with_button("Renew")) == "This is not available right now."


async def a_refused_reminder(shopfront: Shopfront, refuse) -> tuple[int, Chat]:
    """A buyer near their subscription's end whom Telegram will not reach (`refuse(fake bot)`): over several supervisor
    rounds the reminder is tried once and its renewal order cancelled. The bot's id and the buyer."""
    alpha, fbot = shopfront.bots["Alpha"]
    buyer = Chat(fbot, user=BUYER)
    await buy(buyer, fbot)
    refuse(fbot)
    await ends_in(shopfront, BUYER, timedelta(days=2))
    mark = fbot.mark()
    remind_now(shopfront)
    await fbot.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == BUYER and c.error is not None, after=mark)
    remind_now(shopfront)
    await asyncio.sleep(1.0)
    tries = [c for c in fbot.sent[mark:] if c.params.get("chat_id") == BUYER and c.method in ("sendMessage", "sendInvoice")]
    assert len(tries) == 1
    async with shopfront.app.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Order).where(Order.bot_id == alpha, Order.status == "cancelled")) == 1
    return alpha, buyer


async def blocked(shopfront: Shopfront, alpha: int) -> bool:
    async with shopfront.app.unit_of_work() as session:
        return await session.scalar(select(User.is_blocked).where(User.bot_id == alpha, User.telegram_id == BUYER))


async def test_a_user_who_blocked_the_bot_is_marked_and_not_retried_until_back(shopfront: Shopfront) -> None:
    alpha, buyer = await a_refused_reminder(shopfront, lambda fbot: fbot.block(BUYER))
    assert await blocked(shopfront, alpha) is True
    assert (await subscription_of(shopfront, BUYER)).renewal_reminded_at is None

    fbot = buyer.fbot
    fbot.block(BUYER, False)  # back: the reminder goes out
    mark = fbot.mark()
    await buyer.send("/start", "Welcome to Alpha!")
    await buyer.wait(REMINDER, mark)
    await buyer.wait("Alpha month, 30 days", mark)


async def test_a_deleted_account_is_tried_once_per_period(shopfront: Shopfront) -> None:
    alpha, _buyer = await a_refused_reminder(shopfront, lambda fbot: fbot.delete_account(BUYER))
    assert (await subscription_of(shopfront, BUYER)).renewal_reminded_at is not None
    assert await blocked(shopfront, alpha) is False
