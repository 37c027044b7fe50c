"""The master admin panel (/admin) end to end: a master admin pressing buttons on the real runner,
polling the fake Bot API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from tenantctl.audit.models import AuditEntry
from tenantctl.billing.models import STARS, PaymentInbox, PlatformRefund
from tenantctl.bot.routers.admin_panel_views import (
    Act,
    Do,
    Go,
    Screen,
    Stage,
    TenantList,
)
from tenantctl.bot.runner import Runner
from tenantctl.cli.main import app as cli
from tenantctl.core.app import App
from tenantctl.core.conversation import FsmRecord
from tenantctl.core.db import utcnow
from tenantctl.flags.models import BotFeatureFlag, TenantFeatureOverride
from tenantctl.plans.models import TenantSubscription
from tenantctl.plans.service import create_plan, get_plan, set_grant
from tenantctl.tenants.models import Bot
from tenantctl.tenants.service import provision_tenant
from tenantctl.testing.fake_telegram import Call, FakeTelegram, buttons
from tests.bot.conftest import USER, Chat, master_of, register_until_payment, text_of
from tests.conftest import MASTER_ADMIN_ID
from tests.factories import feature, tenants

ADMIN_ACTOR = f"tg:{MASTER_ADMIN_ID}"


class Panel(Chat):
    """A chat whose answers may also come as an edit of the screen the button was on."""

    async def wait(self, expect: str, mark: int, *, timeout: float = 5.0) -> Call:
        def match(call: Call) -> bool:
            return (call.ok and call.method in ("sendMessage", "editMessageText", "sendPhoto")
                    and call.params.get("chat_id") == self.user and expect in text_of(call))

        return await self.fbot.wait_for(match, after=mark, timeout=timeout)

    async def alert(self, data: str, message: dict, *, user: int | None = None) -> str:
        """Press a crafted button; return the text of the answer to the press."""
        mark = self.fbot.mark()
        self.fbot.press_button(user or self.user, message, data, forged=True)
        answer = await self.fbot.wait_for("answerCallbackQuery", after=mark)
        return answer.params.get("text") or ""

    def every_button_fits(self) -> None:
        datas = [data for message in self.fbot.messages(self.user) for _, data in buttons(message) if data]
        assert datas and all(len(data.encode()) <= 64 for data in datas)


async def seed(app: App, fake: FakeTelegram, *names: str) -> list[int]:
    """Two catalogue features, then one tenant on plan basic per name; their bot ids."""
    ids = []
    async with app.unit_of_work() as session:
        session.add_all([feature("referral", category="marketing"),
                         feature("support", kind="mode", value="tickets", allowed=("disabled", "tickets", "contact"),
                                 config={"SUPPORT_TIMEOUT": 30}, category="support")])
        await session.flush()
        for name in names:
            fbot = fake.add_bot(username=f"{name.lower()}_bot", first_name=name)
            result = await provision_tenant(session, name=name, token=fbot.token, owner_telegram_id=USER, plan="basic",
                                            box=app.secret_box, actor="test", identity=None)
            ids.append(result.bot.id)
    return ids


async def flag(app: App, bot_id: int, key: str) -> BotFeatureFlag:
    async with app.unit_of_work() as session:
        return await session.get(BotFeatureFlag, (bot_id, key))


async def audit(app: App, action: str) -> list[AuditEntry]:
    async with app.unit_of_work() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def tenant_count(app: App) -> int:
    async with app.unit_of_work() as session:
        return await session.scalar(select(func.count()).select_from(Bot).where(Bot.is_master.is_(False)))


async def waiting_input(app: App) -> list[dict]:
    """The inputs the panel waits for, from the durable conversation state."""
    async with app.unit_of_work() as session:
        return [data["panel"] for data in (await session.scalars(select(FsmRecord.data))).all() if "panel" in data]


async def test_override_through_the_buttons(bot_app: App, runner: Runner, fake: FakeTelegram, cli_env: dict[str, str]) -> None:
    (alpha,) = await seed(bot_app, fake, "Alpha")
    await runner.gate.load(alpha)  # cached: the panel's change must reach it at once all the same
    assert not runner.gate.is_enabled(alpha, "referral")
    admin = Panel(master_of(bot_app), user=MASTER_ADMIN_ID)
    await admin.send("/admin", "Master admin panel")
    await admin.press("Tenants", "Tenants: 1")
    await admin.press(f"#{alpha} Alpha", "Status: active")
    await admin.press("Features", "Features of Alpha")
    await admin.press("referral", "Override: ·")
    await admin.press("On", "Until when")
    await admin.press("7 days", "Send the reason")
    await admin.send("launch promo", "Saved")
    screen = admin.last_with_button("Inherit")["text"]
    assert "Override: on" in screen and "source: override" in screen and "launch promo" in screen

    await runner.gate.load(alpha)
    assert runner.gate.is_enabled(alpha, "referral")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["tenant", "features", str(alpha), "--json"], env=cli_env)
    row = next(r for r in json.loads(result.stdout) if r["key"] == "referral")
    assert (row["source"], row["override_value"], row["value"]) == ("override", True, True)
    async with bot_app.unit_of_work() as session:
        override = await session.get(TenantFeatureOverride, (alpha, "referral"))
    assert override.reason == "launch promo" and override.created_by == ADMIN_ACTOR and override.expires_at is not None
    (entry,) = await audit(bot_app, "override.set")
    assert entry.actor == ADMIN_ACTOR and entry.before is None and entry.after["enabled"] is True

    # a mode value with a config key, a typed date, then inherit clears it
    await admin.press("Back", "Features of Alpha")
    await admin.press("support", "Override: ·")
    await admin.press("Set config key", "SUPPORT_TIMEOUT")
    await admin.send("SUPPORT_TIMEOUT=soon", "takes a whole number")  # validated against the template
    await admin.send("SUPPORT_TIMEOUT=90", "Until when")
    await admin.press("Type a date", "YYYY-MM-DD")
    await admin.send("2001-01-01", "has passed")
    await admin.send("2099-01-01", "Send the reason")
    await admin.send("slower support", "Saved")
    assert (await flag(bot_app, alpha, "support")).config == {"SUPPORT_TIMEOUT": 90}
    await admin.press("contact", "Until when")
    await admin.press("No expiry", "Send the reason")
    await admin.send("contact form only", "Saved")
    support = await flag(bot_app, alpha, "support")
    assert (support.value, support.config, support.source) == ("contact", {"SUPPORT_TIMEOUT": 90}, "override")
    await admin.press("Inherit", "Send the reason")
    await admin.send("back to the plan", "Saved")
    assert (await flag(bot_app, alpha, "support")).source != "override"
    assert [e.actor for e in await audit(bot_app, "override.clear")] == [ADMIN_ACTOR]

    # the feature's audit: who changed what, from and to, and when
    await admin.send("/admin", "Master admin panel")
    await admin.press("Feature flags", "Feature catalogue: 2")
    await admin.press("support", "Allowed values")
    changes = await admin.press("Audit", "Recent changes of support")
    lines = text_of(changes).splitlines()
    assert f"{ADMIN_ACTOR} override.clear bot:{alpha}/support" in lines[1] and '"back to the plan"' in lines[1]
    assert f"{ADMIN_ACTOR} override.set bot:{alpha}/support" in lines[2] and '"value": "contact"' in lines[2]
    admin.every_button_fits()


async def test_grant_toggled_on_a_plan_reaches_every_tenant(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    ids = await seed(bot_app, fake, "Alpha", "Beta")
    for bot_id in ids:
        await runner.gate.load(bot_id)
    admin = Panel(master_of(bot_app), user=MASTER_ADMIN_ID)
    await admin.send("/admin", "Master admin panel")
    await admin.press("Plans", "Basic")
    await admin.press("Basic", "Tenants: 2")
    await admin.press("referral", "Grant: ·")
    await admin.press("On", "changes 2 tenants at once")
    assert not (await flag(bot_app, ids[0], "referral")).enabled  # nothing before the confirmation
    await admin.press("Confirm", "2 tenants follow")
    for bot_id in ids:
        assert (await flag(bot_app, bot_id, "referral")).source == "plan"
        await runner.gate.load(bot_id)
        assert runner.gate.is_enabled(bot_id, "referral")
    (entry,) = await audit(bot_app, "grant.set")
    assert entry.actor == ADMIN_ACTOR and entry.entity == "plan:basic/referral"

    # a config override of the grant, validated and confirmed the same way
    await admin.press("Back", "Tenants: 2")
    await admin.press("support", "Grant: ·")
    await admin.press("Set config key", "SUPPORT_TIMEOUT")
    await admin.send("NO_SUCH_KEY=1", "has no config key")
    await admin.send("SUPPORT_TIMEOUT=45", "changes 2 tenants at once")
    await admin.press("Confirm", "2 tenants follow")
    for bot_id in ids:
        assert (await flag(bot_app, bot_id, "support")).config == {"SUPPORT_TIMEOUT": 45}
    admin.every_button_fits()


async def test_plan_change_shows_its_preview_then_applies(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    (alpha,) = await seed(bot_app, fake, "Alpha")
    async with bot_app.unit_of_work() as session:
        await create_plan(session, name="pro", display_name="Pro", monthly_price_kopeks=200_000, actor="test")
        await set_grant(session, plan="pro", feature="referral", actor="test")
    admin = Panel(master_of(bot_app), user=MASTER_ADMIN_ID)
    await admin.send("/admin", "Master admin panel")
    await admin.press("Tenants", "Tenants: 1")
    await admin.press(f"#{alpha} Alpha", "Plan: Basic")
    await admin.press("Change plan", "to which plan")
    preview = await admin.press("Pro", "These features change")
    assert "referral: off → on" in text_of(preview)
    async with bot_app.unit_of_work() as session:  # a preview changes nothing
        assert (await session.scalar(select(TenantSubscription.plan_tier_id).where(TenantSubscription.bot_id == alpha))) \
            == (await get_plan(session, "basic")).id
    await admin.press("Confirm", "on plan Pro now")
    async with bot_app.unit_of_work() as session:
        assert (await session.scalar(select(TenantSubscription.plan_tier_id).where(TenantSubscription.bot_id == alpha))) \
            == (await get_plan(session, "pro")).id
    assert (await flag(bot_app, alpha, "referral")).enabled
    (entry,) = await audit(bot_app, "tenant.set_plan")
    assert entry.actor == ADMIN_ACTOR and entry.after == {"plan": "pro"}
    admin.every_button_fits()


async def test_lifecycle_asks_first_and_refresh_is_harmless(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    (alpha,) = await seed(bot_app, fake, "Alpha")
    admin = Panel(master_of(bot_app), user=MASTER_ADMIN_ID)
    await admin.send("/admin", "Master admin panel")
    await admin.press("Tenants", "Tenants: 1")
    await admin.press(f"#{alpha} Alpha", "Status: active")
    await admin.press("Suspend", "Suspend Alpha?")
    await admin.press("Back", "Status: active")  # asking changed nothing
    await admin.press("Suspend", "Suspend Alpha?")
    await admin.press("Confirm", "is suspended now")
    await admin.press("Resume", "Resume Alpha?")
    await admin.press("Confirm", "is active now")
    assert [e.actor for e in await audit(bot_app, "tenant.suspended")] == [ADMIN_ACTOR]

    await admin.press("Extend", "how many months")
    assert await waiting_input(bot_app) == [{"kind": "extend_months", "bot_id": alpha}]
    await admin.press("Back", "Status: active")  # leaving the question stops waiting for its answer
    assert await waiting_input(bot_app) == []
    await admin.press("Extend", "how many months")
    await admin.send("two", "from 1 to 120")
    await admin.send("2", "Send the reason")
    await admin.send("loyalty bonus", "Extended by 2 months")
    (entry,) = await audit(bot_app, "payment.record")
    assert entry.actor == ADMIN_ACTOR and entry.after["months"] == 2 and entry.after["reason"] == "loyalty bonus"

    await admin.press("API tokens", "API tokens of Alpha")
    mark = admin.fbot.mark()
    await admin.press("Issue a token", "API tokens of Alpha")
    issued = await admin.wait("shown only once", mark)
    assert issued.method == "sendMessage" and "tc_" in text_of(issued)
    await admin.press("Revoke", "revoked")

    # pressing the button of the screen already shown: Telegram says "not modified", nobody sees an error
    await admin.press("Back", "Status: active")
    message = admin.last_with_button("Features")
    mark = admin.fbot.mark()
    admin.fbot.press_button(MASTER_ADMIN_ID, message, Go(to=Screen.TENANT, a=alpha).pack(), forged=True)
    refused = await admin.fbot.wait_for(lambda c: c.method == "editMessageText" and not c.ok, after=mark)
    assert "not modified" in refused.error
    await asyncio.sleep(0.3)
    assert not [c for c in admin.fbot.sent[mark:] if "went wrong" in text_of(c)]

    changes = await admin.press("Audit", "Recent changes of Alpha")
    assert f"{ADMIN_ACTOR} tenant.suspended bot:{alpha}" in text_of(changes)
    await admin.send("/admin", "Master admin panel")
    figures = await admin.press("Statistics", "last 30 days")
    assert "Tenants by status: active 1" in text_of(figures) and "MRR: 1 000.00 RUB" in text_of(figures)
    assert "Renewals: 0.00 RUB" in text_of(figures) and "Churn: 0 cancelled, 0 expired" in text_of(figures)
    await admin.press("7 days", "last 7 days")
    chart = await admin.press("MRR chart", "today 1 000.00 RUB")
    assert chart.method == "sendPhoto" and chart.params["photo"]["content"].startswith(b"\x89PNG\r\n\x1a\n")
    admin.every_button_fits()


async def test_outsiders_and_stale_buttons(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    (alpha,) = await seed(bot_app, fake, "Alpha")
    master = master_of(bot_app)
    outsider = Panel(master, user=USER)

    # /admin gets exactly what an unknown command gets: outside a registration, nothing
    mark = master.mark()
    master.send_message(USER, "/admin")
    master.send_message(USER, "/no_such_command")
    await outsider.send("/start", "Hello!")
    assert [text_of(c) for c in master.calls("sendMessage", USER) if master.sent.index(c) >= mark] == [text_of(master.calls("sendMessage", USER)[-1])]
    # and in a registration, the same answer as any other command
    await outsider.send("/register_tenant", "Step 1/7")
    unknown = await outsider.send("/no_such_command", "⚠️")
    admin_answer = await outsider.send("/admin", "⚠️")
    assert text_of(admin_answer) == text_of(unknown)

    # a forged panel button from an outsider changes nothing
    message = outsider.last_with_button("Cancel")
    answer = await outsider.alert(Act(do=Do.SUSPEND, a=alpha, stage=Stage.DO).pack(), message)
    assert answer == "This button has expired."
    async with bot_app.unit_of_work() as session:
        assert (await session.get(Bot, alpha)).status == "active"
    assert await audit(bot_app, "tenant.suspended") == []

    # an admin's stale or malformed buttons are answered, never a traceback
    admin = Panel(master, user=MASTER_ADMIN_ID)
    await admin.send("/admin", "Master admin panel")
    home = admin.last_with_button("Tenants")
    assert await admin.alert(Go(to=Screen.TENANT, a=alpha + 100).pack(), home) == "This button has expired."
    assert await admin.alert(Go(to=Screen.TENANT_FEATURE, a=alpha, b=12345).pack(), home) == "This button has expired."
    assert await admin.alert("ap:zz:1:2", home) == "This button has expired."
    assert await admin.alert(Act(do=Do.PLAN_EDIT, a=1, stage=Stage.DO).pack(), home) == "This button has expired."

    # the panel speaks the admin's language
    await Panel(master, user=MASTER_ADMIN_ID, language_code="ru").send("/admin", "Панель администратора платформы")
    persian = Panel(master, user=MASTER_ADMIN_ID, language_code="fa")
    await persian.send("/admin", "پنل مدیر اصلی")
    await persian.press("مستأجرها", "مستأجرها: 1")


async def test_plans_form_price_archive_and_feature_pages(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    (alpha,) = await seed(bot_app, fake, "Alpha")
    admin = Panel(master_of(bot_app), user=MASTER_ADMIN_ID)
    await admin.send("/admin", "Master admin panel")
    await admin.press("Plans", "Basic")
    await admin.press("New plan", "1/4")
    await admin.send("Basic", "exists already")
    await admin.send("business", "2/4")
    await admin.send("Business", "3/4")
    await admin.send("twelve", "not an amount")
    await admin.send("2 500", "4/4")
    created = await admin.send("0", "Plan Business (business)")
    assert "2 500.00 RUB" in text_of(created)
    entry = (await audit(bot_app, "plan.create"))[-1]
    assert entry.actor == ADMIN_ACTOR and entry.after["monthly_price_kopeks"] == 250_000

    await admin.press("Back", "Plans:")
    await admin.press("Basic", "Tenants: 1")
    await admin.press("Price", "New monthly price")
    await admin.send("1200", "It reaches 1 tenants")
    await admin.press("Confirm", "Price: 1 200.00 RUB")
    await admin.press("Revenue share", "now 0%")
    await admin.send("101", "from 0 to 100")
    await admin.send("۱۵٪", "to 15%? Its 1 tenants")
    await admin.press("Confirm", "Revenue share: 15%")
    await admin.press("Archive", "its 1 tenants stay")
    await admin.press("Confirm", "(archived)")
    async with bot_app.unit_of_work() as session:
        basic = await get_plan(session, "basic")
    assert (basic.monthly_price_kopeks, basic.revenue_share_percent, basic.is_active) == (120_000, 15, False)
    assert [e.actor for e in await audit(bot_app, "plan.edit")] == [ADMIN_ACTOR] * 3

    await admin.send("/admin", "Master admin panel")
    await admin.press("Feature flags", "Feature catalogue: 2")
    usage = admin.last_with_button("referral")["text"]
    assert "referral: 0" in usage and "support: 1" in usage  # support's default (tickets) is on for Alpha
    await admin.press("support", "Allowed values: disabled, tickets, contact")
    page = admin.last_with_button(f"#{alpha} Alpha")["text"]
    assert "On for 1 tenants" in page and f"#{alpha} Alpha: tickets (default)" in page
    await admin.press(f"#{alpha} Alpha", "Alpha: support")
    admin.every_button_fits()


async def test_receipt_approved_from_the_queue_creates_the_tenant_once(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    payer = Chat(master)
    await register_until_payment(payer, fake.add_bot(username="queue_bot"), "Card transfer")
    await payer.press("Confirm", "6037 9911 2233 4455")
    mark = master.mark()
    master.send_photo(USER)
    await payer.wait("receipt was sent", mark)
    admin = Panel(master, user=MASTER_ADMIN_ID)
    await admin.wait("to review", mark)
    notice = admin.last_with_button("Approve")  # what every admin got at once

    await admin.send("/admin", "Master admin panel")
    await admin.press("Payments", "waiting for review: 1")
    shown = await admin.press("#", "to review")
    assert shown.method == "sendPhoto" and shown.params["photo"] == notice["photo"][-1]["file_id"]
    mark = master.mark()
    await admin.press("Approve", "approved")
    await payer.wait("API token", mark)
    assert await tenant_count(bot_app) == 1

    # the same receipt approved again, from the first notice: no second tenant
    approve = next(data for text, data in buttons(notice) if text == "Approve")
    mark = master.mark()
    master.press_button(MASTER_ADMIN_ID, notice, approve)
    await master.wait_for("answerCallbackQuery", after=mark)
    await asyncio.sleep(0.3)
    assert await tenant_count(bot_app) == 1
    await admin.send("/admin", "Master admin panel")
    await admin.press("Payments", "waiting for review: 0")
    admin.every_button_fits()


async def test_refunds_with_their_state_and_a_retry(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    master = master_of(bot_app)
    charge = master.record_star_payment(USER, "reg:77", 2000)["telegram_payment_charge_id"]
    await asyncio.sleep(0.5)  # the supervisor's first round (and its refund run) is over
    async with bot_app.unit_of_work() as session:
        row = PaymentInbox(method=STARS, charge_id=charge, payer_telegram_id=USER, payload="reg:77", currency="XTR", amount_minor=2000,
                           source="ledger", status="refunding")
        session.add(row)
        await session.flush()
        refund = PlatformRefund(inbox_id=row.id, charge_id=charge, payer_telegram_id=USER, currency="XTR", amount_minor=2000,
                                reason="registration cancelled", next_attempt_at=utcnow())
        session.add(refund)
    admin = Panel(master, user=MASTER_ADMIN_ID)
    await admin.send("/admin", "Master admin panel")
    await admin.press("Payments", "waiting for review: 0")
    await admin.press("Refunds", "pending, attempts 0 (registration cancelled)")
    master.fail_next_refunds(1)
    failed = await admin.press("Retry", "attempts 1")  # the screen stays; the outcome comes as a message
    assert "Internal Server Error" in text_of(failed) and "next attempt" in text_of(failed)
    assert master.refunds == []

    assert "attempts 1" in text_of(await admin.press("Retry", "Not retried yet"))  # not due again for 30 s
    async with bot_app.unit_of_work() as session:  # time passes
        (await session.get(PlatformRefund, refund.id)).next_attempt_at = utcnow()
    done = await admin.press("Retry", "done, attempts 2")
    assert "next attempt" not in text_of(done)
    assert [r["telegram_payment_charge_id"] for r in master.refunds] == [charge]
    (entry,) = await audit(bot_app, "payment.refunded")
    assert entry.actor == ADMIN_ACTOR
    admin.every_button_fits()


async def test_lists_page_at_eight(bot_app: App, runner: Runner, fake: FakeTelegram) -> None:
    async with bot_app.unit_of_work() as session:
        ids = await tenants(session, (await get_plan(session, "basic")).id, 10)
        for n, bot_id in enumerate(ids):
            bot = await session.get(Bot, bot_id)
            bot.name, bot.username = (f"Cafe {n}", f"cafe{n}_bot") if n in (3, 7) else (f"Shop {n}", None)
    admin = Panel(master_of(bot_app), user=MASTER_ADMIN_ID)
    await admin.send("/admin", "Master admin panel")
    first = await admin.press("Tenants", "Tenants: 10")
    assert [label.split()[0] for label, _ in buttons(first) if label.startswith("#")] == [f"#{i}" for i in ids[:8]]
    second = await admin.press("›", "Tenants: 10")
    assert [label.split()[0] for label, _ in buttons(second) if label.startswith("#")] == [f"#{ids[8]}", f"#{ids[9]}"]
    assert ("1/2" not in [label for label, _ in buttons(second)]) and "2/2" in [label for label, _ in buttons(second)]
    far = TenantList(page=99).pack()  # a page past the end shows the last one
    mark = admin.fbot.mark()
    admin.fbot.press_button(MASTER_ADMIN_ID, admin.last_with_button("‹"), far, forged=True)
    shown = await admin.fbot.wait_for(lambda c: c.method == "editMessageText", after=mark)
    assert f"#{ids[9]} " in text_of(shown) and f"#{ids[0]} " not in text_of(shown)
    await admin.press("‹", "Tenants: 10")
    await admin.press("Status ⟳", "status: active")

    # a search by name or @username, kept while filtering, until cleared
    await admin.press("Search", "name or @username")
    found = await admin.send("@CAFE", "Tenants: 2 (status: any")
    assert [label.split()[0] for label, _ in buttons(found) if label.startswith("#")] == [f"#{ids[3]}", f"#{ids[7]}"]
    filtered = await admin.press("Status ⟳", "Tenants: 2 (status: active")
    assert "Search: @CAFE" in text_of(filtered)
    await admin.press("✕ Search", "Tenants: 10 (status: active")
    admin.every_button_fits()
