"""A tenant bot's storefront end to end: end users buying with Stars and by card, the trial, the menu following the
flags, provisioned in the fake VPN panel; the real runner polling the fake Bot API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from sqlalchemy import func, select, update

from tenantctl.bot.keyboards import ReviewAction
from tenantctl.bot.routers.storefront import OrderReview, Shop, ShopDo
from tenantctl.bot.runner import Runner
from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.stats.money import verify_money
from tenantctl.customers.models import BotPlan, Order, PanelJob, Subscription, TenantPaymentCard, Transaction, User
from tenantctl.tenants.admins import add_admin
from tenantctl.tenants.models import BotConfiguration
from tenantctl.tenants.overrides import set_override
from tenantctl.tenants.service import provision_tenant
from tenantctl.testing.fake_remnawave import FakeRemnawave
from tenantctl.testing.fake_telegram import FakeBot, FakeTelegram
from tests.bot.conftest import Chat, text_of
from tests.bot.test_admin_panel import Panel
from tests.factories import feature

OWNER, ADMIN, BUYER, STRANGER = 2001, 3003, 5005, 6006


@dataclass
class Shopfront:
    app: App
    runner: Runner
    panel: FakeRemnawave
    bots: dict[str, tuple[int, FakeBot]]


@pytest_asyncio.fixture
async def shopfront(bot_app: App, fake: FakeTelegram) -> AsyncIterator[Shopfront]:
    """Two tenants selling on one panel: Alpha (a plan, a card, Stars, card to card, the trial, auto-renewal, support tickets)
    and Beta."""
    async with FakeRemnawave() as panel:
        bots = {}
        async with bot_app.unit_of_work() as session:
            session.add_all([
                feature("telegram_stars", enabled=True, category="payment_gateways"),
                feature("card_to_card", enabled=True, category="payment_methods"),
                feature("trial_subscription", enabled=True, category="subscription_features",
                        config={"TRIAL_DURATION_DAYS": 3, "TRIAL_TRAFFIC_LIMIT_GB": 10, "TRIAL_DEVICE_LIMIT": 1}),
                feature("referral_program", enabled=True, category="marketing", config={"REFERRAL_INVITER_BONUS_KOPEKS": 5000}),
                feature("auto_renewal", enabled=True, category="subscription_features",
                        config={"AUTOPAY_WARNING_DAYS": [3, 1], "DEFAULT_AUTOPAY_DAYS_BEFORE": 3}),
                feature("support_tickets", kind="mode", value="both", allowed=("disabled", "tickets", "contact", "both"),
                        category="support"),
            ])
            await session.flush()
            for name in ("Alpha", "Beta"):
                fbot = fake.add_bot(username=f"{name.lower()}_shop_bot", first_name=name)
                result = await provision_tenant(session, name=name, token=fbot.token, owner_telegram_id=OWNER, plan="basic",
                                                box=bot_app.secret_box, actor="test", identity=None, language="en",
                                                support_username="@help")
                bots[name] = (result.bot.id, fbot)
                session.add(BotPlan(bot_id=result.bot.id, name=f"{name} month", period_days=30, price_kopeks=29_900,
                                    traffic_limit_gb=100, device_limit=3))
            alpha = bots["Alpha"][0]
            await add_admin(session, bot_id=alpha, telegram_user_id=ADMIN, actor="test")
            session.add(TenantPaymentCard(bot_id=alpha, card_number="4111111111111111", holder_name="Alpha Owner", bank_name="Bank"))
            master = await session.scalar(select(BotConfiguration.bot_id).where(BotConfiguration.config_key == "BOT_TOKEN"))
            session.add_all([BotConfiguration(bot_id=master, config_key="REMNAWAVE_API_URL", value=panel.url, source="master"),
                             BotConfiguration(bot_id=master, config_key="REMNAWAVE_API_KEY", value=None, source="master",
                                              encrypted_value=bot_app.secret_box.encrypt(panel.api_key))])
        running = Runner(bot_app, interval=0.2, poll_timeout=1)
        await running.start()
        try:
            yield Shopfront(bot_app, running, panel, bots)
        finally:
            await running.stop()


async def count(app: App, model, **where) -> int:
    async with app.unit_of_work() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return await session.scalar(query)


def labels(call) -> list[str]:
    from tenantctl.testing.fake_telegram import buttons

    return [label for label, _ in buttons(call)]


async def test_buy_with_stars_once_and_get_the_link(shopfront: Shopfront) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    buyer = Chat(fbot, user=BUYER)
    menu = await buyer.send("/start", "Welcome to Alpha!")
    assert labels(menu) == ["🛒 Buy a subscription", "🎁 Free trial", "🔑 My subscription", "👥 Invite friends", "💬 Support"]
    await buyer.press("Buy a subscription", "Choose a plan")
    plan = await buyer.press("Alpha month", "for 30 days")
    assert "Beta" not in text_of(plan) and labels(plan)[:2] == ["Telegram Stars: 200 ⭐", "Card to card: 299.00 ₽"]
    invoice = await buyer.press("Telegram Stars", "Alpha month, 30 days")
    assert invoice.method == "sendInvoice" and invoice.params["currency"] == "XTR" and invoice.params["prices"][0]["amount"] == 200

    mark = fbot.mark()
    fbot.checkout(BUYER, invoice.result)
    await buyer.wait("Payment received: Alpha month", mark)
    link = await buyer.wait("Your subscription is ready", mark)
    username = f"t{alpha}_{BUYER}"
    assert shopfront.panel.user(username)["subscriptionUrl"] in text_of(link)

    paid = next(m for m in fbot._messages.values() if "successful_payment" in m)
    for _ in range(2):  # Telegram delivering the same successful_payment twice more
        fbot._inject("message", copy.deepcopy(paid))
    await asyncio.sleep(1.0)
    assert await count(shopfront.app, Transaction, bot_id=alpha, payment_method="telegram_stars") == 1
    assert await count(shopfront.app, Subscription, bot_id=alpha) == 1
    assert len([u for u in shopfront.panel.users.values() if u["username"] == username]) == 1
    async with shopfront.app.unit_of_work() as session:  # `billing verify`: the books agree
        assert await verify_money(session, stars_rate_kopeks=shopfront.app.settings.stars_rate_kopeks) == []
        paid = await session.scalar(select(Order).where(Order.bot_id == alpha))
        paid.status = "pending"  # an order the books say is unpaid, though its payment was applied
        assert [issue["check"] for issue in await verify_money(session, stars_rate_kopeks=150)] == ["effect"]
        await session.rollback()

    mine = await buyer.press("Menu", "Welcome to Alpha!")
    assert "🎁 Free trial" in labels(mine)  # a buyer may still never have had the trial
    status = await buyer.press("My subscription", "Subscription: active")
    assert "Devices: 3" in text_of(status) and "http" in text_of(status)


async def test_card_receipt_approved_once_by_the_tenants_admin_only(shopfront: Shopfront) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    beta_bot = shopfront.bots["Beta"][1]
    buyer = Chat(fbot, user=BUYER)
    await buyer.send("/start", "Welcome to Alpha!")
    await buyer.press("Buy a subscription", "Choose a plan")
    await buyer.press("Alpha month", "for 30 days")
    details = await buyer.press("Card to card", "4111111111111111")
    assert "Alpha Owner" in text_of(details) and "299.00 ₽" in text_of(details)
    mark = fbot.mark()
    fbot.send_photo(BUYER)
    await buyer.wait("receipt went to the bot's admins", mark)
    admin = Panel(fbot, user=ADMIN)
    review = await admin.wait("Order #", mark)
    order_id = int(text_of(review).split("#")[1].split(":")[0])

    stranger = Panel(fbot, user=STRANGER)  # not an admin of Alpha: refused, nothing changes
    own = await stranger.send("/start", "Welcome to Alpha!")
    assert await stranger.alert(OrderReview(action=ReviewAction.APPROVE, order_id=order_id).pack(), own.result["message_id"]) == "This button has expired."
    beta_admin = Panel(beta_bot, user=OWNER)  # Alpha's order id pressed in Beta's bot
    beta_own = await beta_admin.send("/start", "Welcome to Beta!")
    assert await beta_admin.alert(OrderReview(action=ReviewAction.APPROVE, order_id=order_id).pack(), beta_own.result["message_id"]) \
        == "This button has expired."
    assert await count(shopfront.app, Transaction, bot_id=alpha) == 0

    mark = fbot.mark()
    approve = OrderReview(action=ReviewAction.APPROVE, order_id=order_id).pack()
    assert await admin.alert(approve, admin.last_with_button("Approve")) == f"Order #{order_id} approved."
    await buyer.wait("Payment received: Alpha month", mark)
    await buyer.wait("Your subscription is ready", mark)
    await admin.alert(approve, admin.last_with_button("Approve"))  # a second approval changes nothing
    await asyncio.sleep(0.5)
    assert await count(shopfront.app, Transaction, bot_id=alpha, payment_method="card_to_card") == 1
    async with shopfront.app.unit_of_work() as session:
        assert (await session.get(Order, order_id)).status == "paid"
        assert await session.scalar(select(TenantPaymentCard.usage_count).where(TenantPaymentCard.bot_id == alpha)) == 1


async def test_trial_once_and_a_flag_turned_off_hides_its_button(shopfront: Shopfront) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    buyer = Chat(fbot, user=BUYER)
    await buyer.send("/start", "Welcome to Alpha!")
    started = await buyer.press("Free trial", "Your trial runs until")
    assert (utcnow().date().isoformat() < text_of(started).split("until ")[1][:10])
    await buyer.wait("Your subscription is ready", 0)
    assert shopfront.panel.user(f"t{alpha}_{BUYER}")["hwidDeviceLimit"] == 1
    menu = await buyer.press("Menu", "Welcome to Alpha!")
    assert "🎁 Free trial" not in labels(menu)
    answer = await Panel(fbot, user=BUYER).alert(Shop(do=ShopDo.TRIAL).pack(), menu.result["message_id"])
    assert answer == "⚠️ You have had your trial already."

    async with shopfront.app.unit_of_work() as session:  # the platform turns card to card and support off for Alpha
        for key in ("card_to_card", "support_tickets"):
            await set_override(session, bot_id=alpha, feature=key, enabled=False, value="disabled" if key == "support_tickets" else None,
                               actor="test", reason="test")
    shopfront.runner.gate.invalidate(alpha)
    other = Chat(fbot, user=STRANGER)
    menu = await other.send("/start", "Welcome to Alpha!")
    assert labels(menu) == ["🛒 Buy a subscription", "🎁 Free trial", "🔑 My subscription", "👥 Invite friends"]
    plan = await other.press("Buy a subscription", "Choose a plan")
    plan = await other.press("Alpha month", "for 30 days")
    assert labels(plan)[0] == "Telegram Stars: 200 ⭐" and not any("Card to card" in label for label in labels(plan))
    async with shopfront.app.unit_of_work() as session:
        plan_id = await session.scalar(select(BotPlan.id).where(BotPlan.bot_id == alpha))
    stale = await Panel(fbot, user=STRANGER).alert(Shop(do=ShopDo.PAY, a=plan_id, b=1).pack(), plan.result["message_id"])
    assert stale == "⚠️ That payment method is not available right now."
    stale = await Panel(fbot, user=STRANGER).alert(Shop(do=ShopDo.SUPPORT).pack(), plan.result["message_id"])
    assert stale == "This is not available right now."
    assert await count(shopfront.app, Order, bot_id=alpha, method="card_to_card") == 0


async def test_the_panel_down_during_a_purchase_then_back_gives_one_user_and_the_link(shopfront: Shopfront) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    shopfront.panel.down()
    buyer = Chat(fbot, user=BUYER)
    await buyer.send("/start", "Welcome to Alpha!")
    mark = fbot.mark()
    await buyer.press("Free trial", "link is on its way")
    await asyncio.sleep(1.0)
    assert not [c for c in fbot.sent[mark:] if "subscription is ready" in text_of(c)] and not shopfront.panel.users
    shopfront.panel.up()
    async with shopfront.app.unit_of_work() as session:  # the backoff has passed (its growth is tested with provisioning)
        await session.execute(update(PanelJob).values(next_attempt_at=utcnow()))
    shopfront.runner.nudge()
    await buyer.wait("Your subscription is ready", mark)
    assert len(shopfront.panel.users) == 1
    async with shopfront.app.unit_of_work() as session:
        user = await session.scalar(select(User).where(User.bot_id == alpha, User.telegram_id == BUYER))
        assert user.panel_uuid is not None and user.trial_used_at is not None


async def test_a_link_for_a_user_who_blocked_the_bot_is_tried_once(shopfront: Shopfront) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    shopfront.panel.down()
    buyer = Chat(fbot, user=BUYER)
    await buyer.send("/start", "Welcome to Alpha!")
    await buyer.press("Free trial", "link is on its way")
    fbot.block(BUYER)
    shopfront.panel.up()
    async with shopfront.app.unit_of_work() as session:
        await session.execute(update(PanelJob).values(next_attempt_at=utcnow()))
    mark = fbot.mark()
    shopfront.runner.nudge()
    await fbot.wait_for(lambda c: c.method == "sendMessage" and c.params.get("chat_id") == BUYER and c.error is not None, after=mark)
    for _ in range(3):  # later rounds leave them alone
        shopfront.runner.nudge()
        await asyncio.sleep(0.3)
    assert len([c for c in fbot.sent[mark:] if c.method == "sendMessage" and c.params.get("chat_id") == BUYER]) == 1
    async with shopfront.app.unit_of_work() as session:
        assert await session.scalar(select(User.is_blocked).where(User.bot_id == alpha, User.telegram_id == BUYER)) is True
        assert await session.scalar(select(PanelJob.link_sent)) is True

    fbot.block(BUYER, False)  # back: the link is in My subscription
    await buyer.send("/start", "Welcome to Alpha!")
    await buyer.press("My subscription", shopfront.panel.users[next(iter(shopfront.panel.users))]["subscriptionUrl"])


async def _paid_without_an_update(buyer: Chat) -> dict:
    """The buyer pays Alpha's plan in Stars, and the process dies before the update: only Alpha's ledger shows the charge."""
    await buyer.send("/start", "Welcome to Alpha!")
    await buyer.press("Buy a subscription", "Choose a plan")
    await buyer.press("Alpha month", "for 30 days")
    invoice = await buyer.press("Telegram Stars", "Alpha month, 30 days")
    charge = buyer.fbot.record_star_payment(BUYER, invoice.params["payload"], 200)
    charge["at"] -= 600  # older than the grace a running bot gets to handle its own update
    return charge


async def test_a_stars_payment_whose_update_never_came_is_applied_from_the_tenants_own_ledger(shopfront: Shopfront) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    buyer = Chat(fbot, user=BUYER)
    charge = await _paid_without_an_update(buyer)
    mark = fbot.mark()
    shopfront.runner.reconcile_interval = 0.0
    shopfront.runner.nudge()
    await buyer.wait("Payment received: ", mark)  # told, from the tenant's bot, as its payment update would have
    await buyer.wait("Your subscription is ready", mark)
    assert await count(shopfront.app, Transaction, bot_id=alpha, external_id=charge["telegram_payment_charge_id"]) == 1
    assert await count(shopfront.app, Subscription, bot_id=alpha) == 1
    for _ in range(2):  # later rounds change nothing
        shopfront.runner.nudge()
        await asyncio.sleep(0.3)
    assert await count(shopfront.app, Transaction, bot_id=alpha) == 1 and len(shopfront.panel.users) == 1


async def test_a_ledger_that_cannot_be_read_holds_up_no_other_tenant(shopfront: Shopfront, fake: FakeTelegram) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    fake.remove_bot(shopfront.bots["Beta"][1].token)  # Beta's token revoked: its ledger answers 401 at every round
    buyer = Chat(fbot, user=BUYER)
    charge = await _paid_without_an_update(buyer)
    mark = fbot.mark()
    shopfront.runner.reconcile_interval = 0.0
    shopfront.runner.nudge()
    await buyer.wait("Your subscription is ready", mark)  # Alpha's payment applied, its panel user made, the link sent
    assert await count(shopfront.app, Transaction, bot_id=alpha, external_id=charge["telegram_payment_charge_id"]) == 1


async def test_two_tenants_users_never_see_each_others_plans_or_cards(shopfront: Shopfront) -> None:
    beta, beta_bot = shopfront.bots["Beta"]
    buyer = Chat(beta_bot, user=BUYER)
    menu = await buyer.send("/start", "Welcome to Beta!")
    assert "🛒 Buy a subscription" in labels(menu)  # Stars are on for Beta; it has no card, so no card to card
    plans = await buyer.press("Buy a subscription", "Choose a plan")
    assert labels(plans) == ["Beta month · 299.00 ₽", "⌂ Menu"]
    async with shopfront.app.unit_of_work() as session:
        alpha_plan = await session.scalar(select(BotPlan.id).where(BotPlan.bot_id == shopfront.bots["Alpha"][0]))
    refused = await Panel(beta_bot, user=BUYER).alert(Shop(do=ShopDo.PLAN, a=alpha_plan).pack(), plans.result["message_id"])
    assert "no plan" in refused
    plan = await buyer.press("Beta month", "for 30 days")
    assert labels(plan)[0] == "Telegram Stars: 200 ⭐" and not any("Card to card" in label for label in labels(plan))


async def test_the_inviter_is_rewarded_once_per_invitee(shopfront: Shopfront) -> None:
    alpha, fbot = shopfront.bots["Alpha"]
    inviter = Chat(fbot, user=BUYER)
    await inviter.send("/start", "Welcome to Alpha!")
    invite = await inviter.press("Invite friends", "50.00 ₽ on your balance")
    assert f"?start=ref_{BUYER}" in text_of(invite)
    friend = Chat(fbot, user=STRANGER)
    await friend.send(f"/start ref_{BUYER}", "Welcome to Alpha!")
    await friend.send(f"/start ref_{STRANGER}", "Welcome to Alpha!")  # oneself: ignored
    for _ in range(2):  # two purchases: one reward
        await friend.press("Buy a subscription", "Choose a plan")
        await friend.press("Alpha month", "for 30 days")
        invoice = await friend.press("Telegram Stars", "Alpha month, 30 days")
        mark = fbot.mark()
        fbot.checkout(STRANGER, invoice.result)
        await friend.wait("Payment received", mark)
        await friend.send("/start", "Welcome to Alpha!")
    async with shopfront.app.unit_of_work() as session:
        balance = await session.scalar(select(User.balance_kopeks).where(User.bot_id == alpha, User.telegram_id == BUYER))
        rewards = await session.scalar(select(func.count()).select_from(Transaction).where(Transaction.external_id.like("referral:%")))
    assert (balance, rewards) == (5000, 1)
