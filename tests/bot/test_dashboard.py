"""The tenant admin dashboard end to end: /dashboard in a tenant bot and /my_bots in the master bot, pressed
through the real runner polling the fake Bot API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy import func, select, text
from typer.testing import CliRunner

from tenantctl.audit.models import AuditEntry
from tenantctl.bot.keyboards import MyBot
from tenantctl.bot.routers.dashboard_views import Dash, DashAct, DashDo, Page, fid
from tenantctl.bot.runner import Runner
from tenantctl.bot.screens import Stage
from tenantctl.cli.main import app as cli
from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.customers.models import BotPlan, TenantPaymentCard, Transaction, User
from tenantctl.tenants.admins import add_admin
from tenantctl.tenants.models import BotConfiguration
from tenantctl.tenants.service import provision_tenant
from tenantctl.testing.fake_telegram import FakeTelegram
from tests.bot.conftest import USER, Chat
from tests.conftest import MASTER_ADMIN_ID
from tests.bot.test_admin_panel import Panel
from tests.factories import feature

OWNER, ADMIN, STRANGER = USER, 3003, 4004
PNG = b"\x89PNG\r\n\x1a\n"


async def seed(app: App, fake: FakeTelegram) -> dict[str, tuple[int, object]]:
    """Two tenants owned by OWNER (Alpha also has ADMIN), a payment gateway feature, and Alpha's users and payments."""
    made = {}
    async with app.unit_of_work() as session:
        session.add_all([
            feature("yookassa", enabled=True, config={"YOOKASSA_SHOP_ID": "", "YOOKASSA_SECRET_KEY": "", "YOOKASSA_MIN_AMOUNT": 100},
                    secret=("YOOKASSA_SECRET_KEY",), category="payment_gateways"),
            feature("cryptobot", enabled=False, config={"CRYPTOBOT_ASSET": "USDT"}, category="payment_gateways"),
        ])
        await session.flush()
        for name in ("Alpha", "Beta"):
            fbot = fake.add_bot(username=f"{name.lower()}_bot", first_name=name)
            result = await provision_tenant(session, name=name, token=fbot.token, owner_telegram_id=OWNER, plan="basic",
                                            box=app.secret_box, actor="test", identity=None)
            made[name] = (result.bot.id, fbot)
        alpha = made["Alpha"][0]
        await add_admin(session, bot_id=alpha, telegram_user_id=ADMIN, actor="test")
        now = utcnow()
        users = [User(bot_id=alpha, telegram_id=9000 + n, created_at=now - timedelta(days=n * 3)) for n in range(12)]
        session.add_all(users)
        await session.flush()
        session.add_all([
            Transaction(bot_id=alpha, user_id=users[0].id, kind="subscription_payment", amount_kopeks=19_900,
                        payment_method="card_to_card", external_id="c2c-1", created_at=now - timedelta(days=2)),
            Transaction(bot_id=alpha, user_id=users[1].id, kind="deposit", amount_kopeks=50_000, payment_method="telegram_stars",
                        external_id="stars-1", created_at=now - timedelta(days=5)),
            Transaction(bot_id=alpha, user_id=users[2].id, kind="deposit", amount_kopeks=70_000, payment_method="manual",
                        external_id="manual-1", created_at=now - timedelta(days=1)),
            Transaction(bot_id=made["Beta"][0], kind="deposit", amount_kopeks=1_000_000, payment_method="card_to_card",
                        external_id="beta-1", created_at=now - timedelta(days=1)),
        ])
        session.add(BotPlan(bot_id=made["Beta"][0], name="Beta month", period_days=30, price_kopeks=10_000))
        session.add(TenantPaymentCard(bot_id=made["Beta"][0], card_number="4111111111111111", holder_name="Beta Owner"))
    return made


async def audited(app: App, action: str) -> list[AuditEntry]:
    async with app.unit_of_work() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def silent(chat: Chat, text_: str) -> bool:
    """Whether the bot says nothing to `text_` within a second."""
    mark = chat.fbot.mark()
    chat.fbot.send_message(chat.user, text_)
    await asyncio.sleep(1.0)
    return not [c for c in chat.fbot.sent[mark:] if c.method != "getUpdates" and c.params.get("chat_id") == chat.user]


async def test_home_and_statistics_show_the_figures_sql_gives(bot_app: App, runner: Runner, fake: FakeTelegram,
                                                              cli_env: dict[str, str]) -> None:
    made = await seed(bot_app, fake)
    alpha, fbot = made["Alpha"]
    owner = Panel(fbot, user=OWNER)
    start = await owner.send("/start", "Alpha!")
    assert any("Dashboard" in label for label, _ in _buttons(start))
    async with bot_app.unit_of_work() as session:  # the figures, computed here independently
        users = await session.scalar(text("SELECT count(*) FROM users WHERE bot_id = :b"), {"b": alpha})
        income = await session.scalar(text(
            "SELECT sum(amount_kopeks) FROM transactions WHERE bot_id = :b AND status = 'succeeded' "
            "AND kind IN ('deposit', 'subscription_payment') AND payment_method NOT IN ('manual', 'balance') "
            "AND created_at >= :since"), {"b": alpha, "since": utcnow() - timedelta(days=30)})
    assert (users, income) == (13, 69_900)  # the 12 seeded, and the owner, who has just sent /start

    home = await owner.press("Dashboard", "Alpha: dashboard")
    assert "Users: 13" in _text(home) and "Income, 30 days: 699.00 ₽" in _text(home)

    screen = _text(await owner.press("Statistics", "statistics, 30 days"))
    assert "card to card: 1 × = 199.00 ₽" in screen and "Telegram Stars: 1 × = 500.00 ₽" in screen
    assert "manual" not in screen and "Income 699.00 ₽" in screen
    assert "10,000.00" not in screen  # Beta's money stays Beta's

    result = await asyncio.to_thread(CliRunner().invoke, cli, ["tenant", "stats", str(alpha), "--json"], env=cli_env)
    figures = json.loads(result.stdout)
    assert figures["revenue"]["income"]["current"] == income and figures["users"]["total"]["current"] == users

    week = _text(await owner.press("7 days", "statistics, 7 days"))
    assert "Income 699.00 ₽" in week
    refresh = owner.last_with_button("• 7 days")  # the same screen again: nothing changes, and no error
    mark = fbot.mark()
    assert await owner.alert(Dash(to=Page.STATS, a=1).pack(), refresh) == ""
    await asyncio.sleep(0.5)
    assert not [c for c in fbot.sent[mark:] if c.method == "sendMessage"]

    for label in ("Income chart", "Traffic chart"):
        mark = fbot.mark()
        await owner.press(label, "last 30 days")
        photo = next(c for c in fbot.sent[mark:] if c.method == "sendPhoto")
        assert photo.params["photo"]["content"].startswith(PNG)
    owner.every_button_fits()


async def test_outsiders_get_nothing_and_my_bots_lists_only_theirs(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    made = await seed(bot_app, fake)
    alpha, fbot = made["Alpha"]
    stranger = Panel(fbot, user=STRANGER)
    assert await silent(stranger, "/dashboard")
    start = await stranger.send("/start", "Alpha!")
    assert not any("Dashboard" in label for label, _ in _buttons(start))
    assert await stranger.alert(Dash(to=Page.PLANS).pack(), start.result["message_id"]) == "This button has expired."

    master = bot_app.master  # type: ignore[attr-defined]
    owner = Panel(master, user=OWNER)
    screen = await owner.send("/my_bots", "Your bots")
    assert [label for label, _ in _buttons(screen)] == ["Alpha (active, owner)", "Beta (active, owner)"]
    await owner.press("Alpha", "Alpha: dashboard")
    await owner.press("Plans", "Alpha: plans")
    nobody = Panel(master, user=STRANGER)
    answer = await nobody.send("/my_bots", "own or administer")
    assert await nobody.alert(MyBot(bot_id=alpha).pack(), answer.result["message_id"]) == "This button has expired."
    assert await nobody.alert(Dash(to=Page.PLANS).pack(), answer.result["message_id"]) == "This button has expired."


async def test_plan_form_validates_every_field_and_cancel_and_back_leave_nothing(bot_app: App, runner: Runner,
                                                                                   fake: FakeTelegram) -> None:
    made = await seed(bot_app, fake)
    alpha, fbot = made["Alpha"]
    admin = Panel(fbot, user=ADMIN)
    await admin.send("/dashboard", "Alpha: dashboard")
    await admin.press("Plans", "Alpha: plans")
    await admin.press("New plan", "1/5")
    await admin.send("/cancel", "Cancelled")
    await admin.press("Plans", "Alpha: plans")
    await admin.press("New plan", "1/5")
    await admin.press("Back", "Alpha: plans")
    assert await silent(admin, "Monthly")  # Back stopped the form: plain text is not taken
    await admin.press("New plan", "1/5")
    await admin.send("x" * 101, "too long")
    await admin.send("Monthly", "2/5")
    await admin.send("0", "from 1 to 3650")
    await admin.send("thirty", "from 1 to 3650")
    await admin.send("۳۰", "3/5")  # Persian digits
    await admin.send("-5", "199.90")
    await admin.send("199.999", "199.90")
    await admin.send("199,90", "4/5")
    await admin.send("-1", "from 0 to 100000")
    await admin.send("50", "5/5")
    await admin.send("0", "from 1 to 100")
    done = await admin.send("٣", "Plan Monthly created")  # Arabic-Indic digits
    assert "199.90 ₽, 30 days, 50 GB, 3 devices" in _text(done)
    async with bot_app.unit_of_work() as session:
        plan = await session.scalar(select(BotPlan).where(BotPlan.bot_id == alpha))
    assert (plan.name, plan.period_days, plan.price_kopeks, plan.traffic_limit_gb, plan.device_limit) == ("Monthly", 30, 19_990, 50, 3)

    await admin.press("Price", "send the new price")
    await admin.send("abc", "199.90")
    await admin.send("249", "Saved")
    await admin.press("Archive", "Archive plan Monthly?")
    await admin.press("Confirm", "(archived)")
    await admin.press("Back", "Alpha: plans")
    await admin.press("New plan", "1/5")
    await admin.send("monthly", "already has a plan")  # names are unique per bot, whatever the case
    async with bot_app.unit_of_work() as session:
        assert await session.scalar(select(BotPlan.price_kopeks).where(BotPlan.id == plan.id)) == 24_900
        assert await session.scalar(select(func.count()).select_from(BotPlan).where(BotPlan.bot_id == alpha)) == 1
    admin.every_button_fits()


async def test_cards_form_and_rotation(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    made = await seed(bot_app, fake)
    alpha, fbot = made["Alpha"]
    owner = Panel(fbot, user=OWNER)
    await owner.send("/dashboard", "Alpha: dashboard")
    await owner.press("Payment cards", "rotation: round robin")
    await owner.press("Add a card", "1/3")
    await owner.send("4111 1111 1111 1112", "mistyped")
    await owner.send("۴۱۱۱ ۱۱۱۱ ۱۱۱۱ ۱۱۱۱", "2/3")
    await owner.send("   ", "holder's name is required")
    await owner.send("Ivan Petrov", "3/3")
    await owner.press("Skip", "Card •••• 1111 added")
    await owner.press("weighted", "rotation: weighted")
    await owner.press("•••• 1111", "Ivan Petrov")
    await owner.press("Disable", "off")
    await owner.press("Remove", "Remove card •••• 1111?")
    await owner.press("Confirm", "Saved")
    async with bot_app.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(TenantPaymentCard).where(TenantPaymentCard.bot_id == alpha)) == 0
    assert [e.after["rotation"] for e in await audited(bot_app, "card.rotation")] == ["weighted"]


async def test_forged_ids_of_another_tenant_change_nothing_and_are_audited(bot_app: App, runner: Runner,
                                                                           fake: FakeTelegram) -> None:
    made = await seed(bot_app, fake)
    (alpha, fbot), beta = made["Alpha"], made["Beta"][0]
    async with bot_app.unit_of_work() as session:
        beta_plan = await session.scalar(select(BotPlan.id).where(BotPlan.bot_id == beta))
        beta_card = await session.scalar(select(TenantPaymentCard.id).where(TenantPaymentCard.bot_id == beta))
    owner = Panel(fbot, user=OWNER)
    home = await owner.send("/dashboard", "Alpha: dashboard")
    message = home.result["message_id"]
    forged = [Dash(to=Page.PLAN, a=beta_plan), DashAct(do=DashDo.PLAN_ARCHIVE, a=beta_plan, stage=Stage.DO),
              Dash(to=Page.CARD, a=beta_card), DashAct(do=DashDo.CARD_REMOVE, a=beta_card, stage=Stage.DO),
              DashAct(do=DashDo.PLAN_FIELD, a=beta_plan, b=99), Dash(to=Page.GATEWAY, a=fid("cryptobot"))]
    for data in forged:
        assert await owner.alert(data.pack(), message) == "This button has expired.", data
    admin = Panel(fbot, user=ADMIN)  # a plain admin may not manage admins
    own = await admin.send("/dashboard", "Alpha: dashboard")
    assert "not allowed" in await admin.alert(DashAct(do=DashDo.ADMIN_NEW).pack(), own.result["message_id"])
    async with bot_app.unit_of_work() as session:
        assert (await session.get(BotPlan, beta_plan)).is_active
        assert await session.get(TenantPaymentCard, beta_card) is not None
    refused = await audited(bot_app, "dashboard.refused")
    assert len(refused) == len(forged) + 1 and {e.bot_id for e in refused} == {alpha}
    assert refused[-1].actor == f"tg:{ADMIN}" and refused[-1].after["reason"] == "Forbidden"


async def test_gateway_settings_and_admins(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    made = await seed(bot_app, fake)
    alpha, fbot = made["Alpha"]
    owner = Panel(fbot, user=OWNER, language_code="ru")
    await owner.send("/dashboard", "Alpha: панель управления")
    screen = _text(await owner.press("Настройки оплаты", "способов оплаты"))
    assert "cryptobot" not in screen  # off for the bot: not offered
    await owner.press("yookassa", "yookassa: настройки")
    await owner.press("YOOKASSA_MIN_AMOUNT", "отправьте новое значение")
    await owner.send("many", "⚠️")  # the template says a whole number
    await owner.send("250", "Сохранено")
    await owner.press("YOOKASSA_SECRET_KEY", "хранится зашифрованным")
    done = _text(await owner.send("live_sk_123", "Сохранено"))
    assert "YOOKASSA_SECRET_KEY = задано" in done and "live_sk_123" not in done
    async with bot_app.unit_of_work() as session:
        row = await session.get(BotConfiguration, (alpha, "YOOKASSA_SECRET_KEY"))
        assert row.value is None and "live_sk_123" not in (row.encrypted_value or "")
        assert not [e for e in (await session.scalars(select(AuditEntry))).all() if "live_sk_123" in json.dumps(e.after or {})]

    await owner.press("⌂ Главная", "панель управления")
    await owner.press("Администраторы", "администраторы")
    await owner.press("Добавить администратора", "Telegram ID")
    await owner.send("not a number", "Telegram ID")
    await owner.send("۵۰۰۵", "5005 теперь администратор")
    await owner.press(f"Удалить {ADMIN}", f"Удалить администратора {ADMIN}?")
    await owner.press("Подтвердить", "Сохранено")
    screen = _text(owner.last_with_button("Добавить администратора"))
    assert f"{OWNER} (владелец)" in screen and "5005 (администратор)" in screen and str(ADMIN) not in screen


async def test_master_admins_keep_the_platforms_cards_and_nobody_else_can(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    made = await seed(bot_app, fake)
    master = bot_app.master  # type: ignore[attr-defined]
    admin = Panel(master, user=MASTER_ADMIN_ID)
    await admin.send("/admin", "Master admin panel")
    await admin.press("Payments", "waiting for review")
    await admin.press("Our cards", "•••• 4455 · Ivan Petrov")  # the fixture's master card, masked
    await admin.press("Add a card", "1/3")
    await admin.send("5555 5555 5555 4444", "2/3")
    await admin.send("Platform LLC", "3/3")
    await admin.send("Tinkoff", "Card •••• 4444 added")
    home = await admin.press("Home", "platform's own payment cards")
    assert [label for label, _ in _buttons(home)] == ["Payment cards"]  # no tenant statistics, plans or admins here
    assert await admin.alert(Dash(to=Page.STATS, a=2).pack(), admin.last_with_button("Payment cards")) == "This button has expired."
    async with bot_app.unit_of_work() as session:
        master_id = await session.scalar(select(TenantPaymentCard.bot_id).where(TenantPaymentCard.holder_name == "Platform LLC"))
        cards_of_master = await session.scalar(select(func.count()).select_from(TenantPaymentCard).where(TenantPaymentCard.bot_id == master_id))
    assert master_id not in {bot_id for bot_id, _ in made.values()} and cards_of_master == 2

    owner = Panel(master, user=OWNER)  # a tenant owner, not a master admin
    mine = await owner.send("/my_bots", "Your bots")
    assert await owner.alert(MyBot(bot_id=master_id).pack(), mine.result["message_id"]) == "This button has expired."


def _text(call_or_message) -> str:
    params = getattr(call_or_message, "params", call_or_message)
    return str(params.get("text") or params.get("caption") or "")


def _buttons(call) -> list[tuple[str, str | None]]:
    from tenantctl.testing.fake_telegram import buttons

    return buttons(call)
