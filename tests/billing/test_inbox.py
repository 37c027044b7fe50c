"""The payment inbox, refunds as rows and reconciliation, at the service level against the fake Bot API, on SQLite and PostgreSQL.

Every scenario ends with `verify_money` finding no discrepancy.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from tenantctl.billing.inbox import receive_stars_payment
from tenantctl.billing.models import (
    CARD,
    STARS,
    PaymentInbox,
    PlatformPayment,
    PlatformRefund,
)
from tenantctl.billing.refunds import REFUND_BACKOFF, run_refunds
from tenantctl.billing.service import request_renewals
from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.onboarding import service as reg
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.onboarding.payments import (
    receive_card_approval,
    reconcile,
    settle_payment,
)
from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.plans.service import archive_plan, create_plan
from tenantctl.stats.money import verify_money
from tenantctl.tenants.models import Bot
from tenantctl.tenants.telegram import BotIdentity, StarsAccount
from tenantctl.testing.fake_telegram import FakeBot
from tests.bot.conftest import bot_app, fake, master_of  # noqa: F401 (fixtures)
from tests.conftest import MASTER_ADMIN_ID
from tests.tenants.support import tenant_token

USER = 2001
BASIC_STARS = 300_000 // 150  # the basic plan's activation fee in Stars at the default rate
PRO_STARS = 600_000 // 150


@pytest.fixture
def app(bot_app: App) -> App:  # noqa: F811
    """The App on the fake Bot API, with the master bot registered, the basic plan and a master card (tests.bot.conftest)."""
    return bot_app


@pytest_asyncio.fixture
async def master(app: App) -> FakeBot:
    """The master bot on the fake, with its Stars account; and a dearer plan, pro."""
    async with app.unit_of_work() as session:
        await create_plan(session, name="pro", display_name="Pro", monthly_price_kopeks=100_000, activation_fee_kopeks=600_000,
                          actor="test")
    bot = master_of(app)
    bot.account = StarsAccount(app.settings.telegram_api_server, bot.token)
    return bot


async def register(app: App, n: int, *, method: str = STARS, plan: str = "basic", user: int = USER) -> int:
    """A registration walked to its confirmation, waiting for payment by `method`; its id."""
    async with app.unit_of_work() as s:
        draft, _ = await reg.start_registration(s, telegram_user_id=user, current=None)
        await reg.set_bot_name(s, draft=draft, telegram_user_id=user, name=f"Shop {n}")
    async with app.unit_of_work() as s:
        await reg.set_token(s, registration_id=draft.id, telegram_user_id=user, token=tenant_token(n), box=app.secret_box,
                            identity=BotIdentity(2000000000 + n, f"shop{n}_bot", f"Shop {n}"))
    async with app.unit_of_work() as s:
        draft = await s.get(TenantRegistration, draft.id)
        await reg.set_language(s, draft=draft, telegram_user_id=user, language="en")
        await reg.set_support(s, draft=draft, telegram_user_id=user, username=None)
        await choose(s, app, draft, plan=plan, method=method)
    return draft.id


async def choose(s, app: App, draft: TenantRegistration, *, plan: str, method: str) -> None:
    plan_id = await s.scalar(select(TenantSubscriptionPlan.id).where(TenantSubscriptionPlan.name == plan))
    await reg.set_plan(s, draft=draft, telegram_user_id=draft.telegram_user_id, plan_id=plan_id)
    await reg.choose_payment(s, draft=draft, telegram_user_id=draft.telegram_user_id, method=method, settings=app.settings)
    await reg.confirm(s, draft=draft, telegram_user_id=draft.telegram_user_id, box=app.secret_box, actor="test")


async def pay(app: App, master: FakeBot, payload: str, stars: int, user: int = USER):
    """Telegram takes the Stars (the fake's ledger), the bot records the successful_payment, then settles it."""
    charge = master.record_star_payment(user, payload, stars)
    async with app.unit_of_work() as s:
        row = await receive_stars_payment(s, charge_id=charge["telegram_payment_charge_id"], provider_charge_id="", payer_telegram_id=user,
                                          bot_telegram_id=master.id, payload=payload, currency="XTR", amount=stars)
    return await settle_payment(app.sessions, inbox_id=row.id, ledger=master.account, box=app.secret_box, settings=app.settings, actor="test")


async def counts(app: App) -> dict[str, int]:
    async with app.unit_of_work() as s:
        async def count(model, *where) -> int:
            return await s.scalar(select(func.count()).select_from(model).where(*where))

        return {"tenants": await count(Bot, Bot.is_master.is_(False)),
                "activations": await count(PlatformPayment, PlatformPayment.purpose == "activation", PlatformPayment.status == "succeeded"),
                "inbox": await count(PaymentInbox), "refunds": await count(PlatformRefund, PlatformRefund.status == "done")}


async def discrepancies(app: App) -> list[dict[str, str]]:
    async with app.unit_of_work() as s:
        return await verify_money(s, stars_rate_kopeks=app.settings.stars_rate_kopeks)


async def test_a_refund_failing_three_times_is_made_once_with_backoff(app: App, master: FakeBot) -> None:
    registration = await register(app, 1)
    first = await pay(app, master, f"reg:{registration}", BASIC_STARS)
    assert first.completion is not None and first.payment.status == "applied"
    master.fail_next_refunds(3)
    second = await pay(app, master, f"reg:{registration}", BASIC_STARS)  # paid twice: the second goes back
    assert second.refused.code == "already_paid" and second.refund.status == "pending" and second.refund.attempts == 1
    assert "Internal Server Error" in second.refund.last_error and master.refunds == []

    now = utcnow()
    for attempt, wait in ((2, REFUND_BACKOFF), (3, REFUND_BACKOFF * 2), (4, REFUND_BACKOFF * 4)):
        early = await run_refunds(app.sessions, ledger=master.account, now=now + wait - timedelta(seconds=1), actor="test")
        assert early == []  # not due yet: Telegram is not called
        now += wait
        [refund] = await run_refunds(app.sessions, ledger=master.account, now=now, actor="test")
        assert refund.attempts == attempt
    assert (refund.status, refund.done_at) == ("done", now)
    assert [r["telegram_payment_charge_id"] for r in master.refunds] == [second.payment.charge_id]
    async with app.unit_of_work() as s:
        assert (await s.get(PaymentInbox, second.payment.id)).status == "refunded"
    assert await counts(app) == {"tenants": 1, "activations": 1, "inbox": 2, "refunds": 1}
    assert (await reconcile(app.sessions, ledger=master.account, box=app.secret_box, settings=app.settings, actor="test")).fixes == []
    assert await discrepancies(app) == []


async def test_stars_after_a_switch_to_card_are_applied_to_the_plan_or_refunded_in_full(app: App, master: FakeBot) -> None:
    async def back_to_card(registration_id: int, plan: str) -> None:
        """The user goes back from the Stars invoice to the plan step and confirms `plan` by card."""
        async with app.unit_of_work() as s:
            draft = await s.get(TenantRegistration, registration_id)
            for _ in range(3):
                await reg.go_back(s, draft=draft, telegram_user_id=draft.telegram_user_id)
            await choose(s, app, draft, plan=plan, method=CARD)

    same_plan = await register(app, 1)
    await back_to_card(same_plan, "basic")
    applied = await pay(app, master, f"reg:{same_plan}", BASIC_STARS)
    assert applied.completion is not None and applied.completion.provisioned is not None
    async with app.unit_of_work() as s:
        payments = (await s.scalars(select(PlatformPayment).where(PlatformPayment.registration_id == same_plan))).all()
        assert [(p.method, p.status, p.amount_minor, p.currency) for p in payments] == [(STARS, "succeeded", BASIC_STARS, "XTR")]

    other_plan = await register(app, 2, user=USER + 1)
    await back_to_card(other_plan, "pro")  # a dearer plan: the Stars paid for basic do not pay for it
    refunded = await pay(app, master, f"reg:{other_plan}", BASIC_STARS, user=USER + 1)
    assert refunded.refused.code == "amount_mismatch" and refunded.refund.status == "done"
    assert refunded.refund.amount_minor == BASIC_STARS and master.refunds[-1]["user_id"] == USER + 1
    async with app.unit_of_work() as s:
        draft = await s.get(TenantRegistration, other_plan)
        pending = await reg.pending_payment(s, registration_id=other_plan)
        assert (draft.status, pending.method, pending.amount_minor) == ("awaiting_payment", CARD, 600_000)  # still payable by card
    assert await counts(app) == {"tenants": 1, "activations": 1, "inbox": 2, "refunds": 1}
    assert await discrepancies(app) == []


async def test_reconcile_records_what_the_process_never_saw_once(app: App, master: FakeBot) -> None:
    never_received = await register(app, 1)
    master.record_star_payment(USER, f"reg:{never_received}", BASIC_STARS)  # killed before the inbox write
    never_processed = await register(app, 2, user=USER + 1)
    charge = master.record_star_payment(USER + 1, f"reg:{never_processed}", BASIC_STARS)
    async with app.unit_of_work() as s:  # killed after the inbox write
        await receive_stars_payment(s, charge_id=charge["telegram_payment_charge_id"], provider_charge_id=None, payer_telegram_id=USER + 1,
                                    bot_telegram_id=master.id, payload=f"reg:{never_processed}", currency="XTR", amount=BASIC_STARS)
    master.record_star_payment(USER + 2, "reg:999", 5)  # an invoice nobody knows: refunded
    assert await discrepancies(app) == [{"check": "effect", "detail": f"{STARS} charge {charge['telegram_payment_charge_id']} "
                                                                      "(2 000 XTR) is not applied or refunded yet (run billing reconcile)"}]

    report = await reconcile(app.sessions, ledger=master.account, box=app.secret_box, settings=app.settings, actor="test")
    assert report.transactions == 3
    assert sorted(fix["action"] for fix in report.fixes) == ["applied", "applied", "recorded", "recorded", "refund_opened", "refunded"]
    assert await counts(app) == {"tenants": 2, "activations": 2, "inbox": 3, "refunds": 1}
    again = await reconcile(app.sessions, ledger=master.account, box=app.secret_box, settings=app.settings, actor="test")
    assert (again.transactions, again.fixes) == (4, [])  # the refund is in the ledger now; nothing changes
    assert await counts(app) == {"tenants": 2, "activations": 2, "inbox": 3, "refunds": 1}
    assert await discrepancies(app) == []


async def test_a_payment_a_handler_just_recorded_is_left_to_it_by_a_running_bots_reconcile(app: App, master: FakeBot) -> None:
    registration = await register(app, 1)
    charge = master.record_star_payment(USER, f"reg:{registration}", BASIC_STARS)
    charge["at"] -= 600  # old in the ledger; its inbox row is new: a handler recorded it and is about to settle it
    async with app.unit_of_work() as s:
        await receive_stars_payment(s, charge_id=charge["telegram_payment_charge_id"], provider_charge_id=None, payer_telegram_id=USER,
                                    bot_telegram_id=master.id, payload=f"reg:{registration}", currency="XTR", amount=BASIC_STARS)
    settle = partial(reconcile, app.sessions, ledger=master.account, box=app.secret_box, settings=app.settings, actor="test")
    assert (await settle(min_age=timedelta(minutes=2))).fixes == []
    assert await counts(app) == {"tenants": 0, "activations": 0, "inbox": 1, "refunds": 0}
    assert [fix["action"] for fix in (await settle(now=utcnow() + timedelta(minutes=3), min_age=timedelta(minutes=2))).fixes] == ["applied"]
    assert await counts(app) == {"tenants": 1, "activations": 1, "inbox": 1, "refunds": 0}


async def test_reconcile_takes_the_refunds_telegram_shows_made(app: App, master: FakeBot) -> None:
    master.fail_next_refunds(1)
    lost = await pay(app, master, "reg:404", 7)  # refused; the refund call fails once
    assert lost.refund.status == "pending"
    await master.account.refund_star_payment(USER, lost.payment.charge_id)  # made meanwhile, e.g. an answer that never came back
    stray = master.record_star_payment(USER, "reg:405", 9)
    await master.account.refund_star_payment(USER, stray["telegram_payment_charge_id"])  # refunded before it was ever processed
    report = await reconcile(app.sessions, ledger=master.account, box=app.secret_box, settings=app.settings, actor="test")
    assert [(fix["action"], fix["charge_id"]) for fix in report.fixes] == [
        ("recorded", stray["telegram_payment_charge_id"]), ("refund_confirmed", lost.payment.charge_id),
        ("refund_confirmed", stray["telegram_payment_charge_id"])]
    assert len(master.refunds) == 2 and await counts(app) == {"tenants": 0, "activations": 0, "inbox": 2, "refunds": 2}
    assert await discrepancies(app) == []


async def test_renewals_through_the_inbox(app: App, master: FakeBot) -> None:
    registration = await register(app, 1)
    await pay(app, master, f"reg:{registration}", BASIC_STARS)
    async with app.unit_of_work() as s:
        await request_renewals(s, owner_telegram_id=USER)
        renewal = await s.scalar(select(PlatformPayment).where(PlatformPayment.purpose == "renewal"))
        before = (await s.scalar(select(TenantSubscription))).end_date
    stars = -(-100_000 // 150)
    short = await pay(app, master, f"ren:{renewal.id}", stars - 1)
    assert short.refused.code == "amount_mismatch" and short.refund.status == "done"
    paid = await pay(app, master, f"ren:{renewal.id}", stars)
    assert paid.renewal.extended and paid.renewal.subscription.end_date > before and paid.payment.payment_id == renewal.id
    again = await pay(app, master, f"ren:{renewal.id}", stars)  # the invoice paid twice
    assert again.refused.code == "not_payable" and again.refund.status == "done"
    assert len(master.refunds) == 2 and await discrepancies(app) == []


async def test_a_card_approval_goes_through_the_inbox_and_is_refunded_by_hand_if_refused(app: App, master: FakeBot) -> None:
    async def approve(registration_id: int):
        async with app.unit_of_work() as s:
            draft = await s.get(TenantRegistration, registration_id)
            payment = await reg.submit_receipt(s, draft=draft, telegram_user_id=draft.telegram_user_id, text="paid")
        async with app.unit_of_work() as s:
            row = await receive_card_approval(s, payment_id=payment.id, reviewer_id=MASTER_ADMIN_ID, settings=app.settings)
        async with app.unit_of_work() as s:
            assert (await receive_card_approval(s, payment_id=payment.id, reviewer_id=MASTER_ADMIN_ID, settings=app.settings)).id == row.id
        return await settle_payment(app.sessions, inbox_id=row.id, ledger=master.account, box=app.secret_box, settings=app.settings,
                                    actor="test")

    first = await approve(await register(app, 1, method=CARD))
    assert first.completion.provisioned is not None and first.completion.payment.reviewed_by == MASTER_ADMIN_ID
    taken = await register(app, 2, method=CARD, user=USER + 1)
    async with app.unit_of_work() as s:  # the plan is withdrawn while the receipt waits for review
        await archive_plan(s, name="basic", actor="test")
    refused = await approve(taken)
    assert refused.refund.currency == "RUB" and refused.refund.next_attempt_at is None  # money to send back by hand
    assert refused.refund.status == "pending" and master.refunds == []
    assert await counts(app) == {"tenants": 1, "activations": 1, "inbox": 2, "refunds": 0}
    assert await discrepancies(app) == []
