"""`billing_tick` and `record_payment`, on SQLite and PostgreSQL (the advisory lock on PostgreSQL only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tenantctl.audit.models import AuditEntry
from tenantctl.billing.lifecycle import cancel_tenant, resume_tenant
from tenantctl.billing.models import PlatformPayment
from tenantctl.billing.service import billing_tick, record_payment
from tenantctl.core.dates import add_months
from tenantctl.core.errors import Conflict, Invalid
from tenantctl.flags.models import BotFeatureFlag, TenantFeatureOverride
from tenantctl.plans.models import TenantSubscription
from tenantctl.tenants.models import Bot
from tests.tenants.support import NOW, setup_platform, write_env
from tests.tenants.test_provisioning import provision

END = add_months(NOW)  # every tenant here is provisioned at NOW


async def tenants(app, tmp_path, count: int = 2) -> list[int]:
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        return [(await provision(session, app, n)).bot.id for n in range(1, count + 1)]


async def tick(app, now, grace: int = 3, notice: int = 3):
    async with app.unit_of_work() as session:
        return await billing_tick(session, now=now, grace_days=grace, notice_days=notice, actor="test")


async def state(app, bot_id: int) -> tuple[str, str, object, set[str]]:
    async with app.unit_of_work() as session:
        bot = await session.get(Bot, bot_id)
        sub = await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == bot_id))
        on = set((await session.scalars(select(BotFeatureFlag.feature_key).where(BotFeatureFlag.bot_id == bot_id, BotFeatureFlag.enabled.is_(True)))).all())
        return bot.status, sub.status, sub.end_date, on


async def renewals(app, bot_id: int) -> list[PlatformPayment]:
    async with app.unit_of_work() as session:
        query = select(PlatformPayment).where(PlatformPayment.bot_id == bot_id, PlatformPayment.purpose == "renewal").order_by(PlatformPayment.id)
        return list((await session.scalars(query)).all())


async def pay(app, bot_id: int, reference: str, now, amount: int = 500000, method: str = "manual", **deal):
    async with app.unit_of_work() as session:
        return await record_payment(session, bot_id=bot_id, amount_kopeks=amount, method=method, reference=reference,
                                    actor="test", now=now, **deal)


async def test_renewals_are_recorded_notice_days_ahead_once_per_period(app, tmp_path) -> None:
    first, second = await tenants(app, tmp_path)
    async with app.unit_of_work() as session:
        (await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == second))).auto_renewal = False
    early = await tick(app, END - timedelta(days=4))
    assert early.renewals == [] and early.expired == []
    due = await tick(app, END - timedelta(days=2))
    assert [(r["bot_id"], r["amount"], r["plan"]) for r in due.renewals] == [(first, 500000, "starter")]
    again = await tick(app, END - timedelta(days=1))
    assert again.renewals == []
    [row] = await renewals(app, first)
    assert (row.status, row.amount_minor, row.due_at, row.currency) == ("pending", 500000, END, "RUB")
    assert await renewals(app, second) == []


async def test_expiry_after_the_grace_period_suspends_and_turns_every_feature_off(app, tmp_path) -> None:
    first, _second = await tenants(app, tmp_path)
    inside_grace = await tick(app, END + timedelta(days=2, hours=23))
    assert inside_grace.expired == []
    assert (await state(app, first))[:2] == ("active", "active")
    report = await tick(app, END + timedelta(days=3, seconds=1))
    assert sorted(e["bot_id"] for e in report.expired) == [first, _second]
    bot_status, sub_status, _end, on = await state(app, first)
    assert (bot_status, sub_status, on) == ("expired", "expired", set())
    assert (await tick(app, END + timedelta(days=5))).expired == []  # already expired: nothing more to do


async def test_a_payment_restores_an_expired_tenant_and_a_repeat_extends_nothing(app, tmp_path) -> None:
    first, _ = await tenants(app, tmp_path)
    await tick(app, END - timedelta(days=2))  # a pending renewal for this period
    paid_at = END + timedelta(days=10)
    await tick(app, paid_at)  # expired
    result = await pay(app, first, "BANK-1", paid_at)
    assert result.extended and result.payment.status == "succeeded"
    bot_status, sub_status, end, on = await state(app, first)
    assert (bot_status, sub_status, end) == ("active", "active", add_months(paid_at))
    assert on == {"card_to_card", "trial_subscription"}
    [row] = await renewals(app, first)  # the pending renewal was settled, not duplicated
    assert (row.status, row.external_id, row.due_at) == ("succeeded", "BANK-1", END)

    repeat = await pay(app, first, "BANK-1", paid_at + timedelta(days=1))
    assert not repeat.extended and repeat.payment.id == row.id
    assert (await state(app, first))[2] == add_months(paid_at)
    async with app.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(PlatformPayment).where(PlatformPayment.external_id == "BANK-1")) == 1


async def test_an_early_payment_extends_from_the_end_date(app, tmp_path) -> None:
    first, second = await tenants(app, tmp_path)
    await pay(app, first, "EARLY", NOW + timedelta(days=5))
    assert (await state(app, first))[2] == add_months(END)
    with pytest.raises(Conflict, match="another bot"):
        await pay(app, second, "EARLY", NOW)
    with pytest.raises(Invalid, match="payment method"):
        await pay(app, second, "X", NOW, method="bitcoin")
    with pytest.raises(Invalid, match="0.00 RUB is not a whole number of months at 5 000.00 RUB a month"):
        await pay(app, second, "X", NOW, amount=0)


async def test_an_amount_buys_whole_months_at_the_plan_price_and_nothing_else(app, tmp_path) -> None:
    first, _ = await tenants(app, tmp_path)  # starter: 5 000.00 RUB a month
    two = await pay(app, first, "TWO", NOW, amount=2 * 500000)
    assert (two.months, (await state(app, first))[2]) == (2, add_months(END, 2))
    for amount, shown in [(1, "0.01"), (499999, "4 999.99"), (500001, "5 000.01"), (750000, "7 500.00")]:
        with pytest.raises(Invalid) as refused:
            await pay(app, first, f"ODD-{amount}", NOW, amount=amount)
        assert str(refused.value) == f"{shown} RUB is not a whole number of months at 5 000.00 RUB a month"
    assert (await state(app, first))[2] == add_months(END, 2)  # nothing bought by the refused amounts


async def test_a_manual_deal_needs_months_and_a_reason_and_is_audited(app, tmp_path) -> None:
    first, _ = await tenants(app, tmp_path)
    deal = await pay(app, first, "DEAL-1", NOW, amount=0, months=3, reason="launch partner")
    assert (deal.months, deal.payment.amount_minor, deal.payment.receipt["reason"]) == (3, 0, "launch partner")
    assert (await state(app, first))[2] == add_months(END, 3)
    async with app.unit_of_work() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "payment.record", AuditEntry.bot_id == first))
    assert (entry.after["months"], entry.after["amount"], entry.after["reason"]) == (3, 0, "launch partner")
    for amount, extra, message in [
        (0, {"months": 2}, "both a number of months and a reason"),
        (500000, {"reason": "friend"}, "both a number of months and a reason"),
        (0, {"months": 2, "reason": "  "}, "both a number of months and a reason"),
        (0, {"months": 0, "reason": "friend"}, "1 month or more"),
        (-1, {"months": 1, "reason": "friend"}, "cannot be negative"),
    ]:
        with pytest.raises(Invalid, match=message):
            await pay(app, first, "DEAL-2", NOW, amount=amount, **extra)
    assert (await state(app, first))[2] == add_months(END, 3)


async def test_tick_expires_overrides(app, tmp_path) -> None:
    first, _ = await tenants(app, tmp_path)
    async with app.unit_of_work() as session:
        session.add(TenantFeatureOverride(bot_id=first, feature_key="yookassa", enabled=True, reason="trial",
                                          created_by="test", expires_at=NOW + timedelta(days=1)))
        await session.flush()
        from tenantctl.plans.effective import recompute_flags

        await recompute_flags(session, bot_ids=[first], now=NOW)
    assert "yookassa" in (await state(app, first))[3]
    report = await tick(app, NOW + timedelta(days=2))
    assert [(o["bot_id"], o["feature"]) for o in report.overrides_expired] == [(first, "yookassa")]
    assert "yookassa" not in (await state(app, first))[3]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the advisory lock is PostgreSQL's
async def test_concurrent_ticks_on_postgresql_one_gets_the_lock(app, tmp_path) -> None:
    first, _ = await tenants(app, tmp_path)
    now = END - timedelta(days=2)
    async with app.unit_of_work() as holder:
        held = await billing_tick(holder, now=now, grace_days=3, notice_days=3, actor="a")
        assert held.skipped is None and len(held.renewals) == 2
        async with app.unit_of_work() as other:
            blocked = await billing_tick(other, now=now, grace_days=3, notice_days=3, actor="b")
        assert blocked.skipped and "another billing tick" in blocked.skipped and blocked.renewals == []
    after = await tick(app, now)  # the lock went with the first transaction; the work is done already
    assert after.skipped is None and after.renewals == []
    assert len(await renewals(app, first)) == 1


async def test_a_paid_invoice_settles_that_renewal_and_cancelled_tenants_are_not_invoiced(app, tmp_path) -> None:
    from tenantctl.billing import service as billing

    first, second = await tenants(app, tmp_path)
    await tick(app, END - timedelta(days=2))  # a pending renewal for each tenant
    async with app.unit_of_work() as session:
        older = billing.pending_renewal(await session.get(Bot, first), *(await session.execute(
            select(TenantSubscription, billing.TenantSubscriptionPlan)
            .join(billing.TenantSubscriptionPlan, billing.TenantSubscriptionPlan.id == TenantSubscription.plan_tier_id)
            .where(TenantSubscription.bot_id == first))).one())
        older.due_at = END - timedelta(days=30)  # an older pending row the invoice is not for
        session.add(older)
    invoiced = next(p for p in await renewals(app, first) if p.due_at == END)
    async with app.unit_of_work() as session:
        await billing.record_payment(session, bot_id=first, amount_kopeks=invoiced.amount_minor, method="telegram_stars",
                                     reference="charge-1", actor="test", payment_id=invoiced.id)
    statuses = {p.id: p.status for p in await renewals(app, first)}
    assert statuses[invoiced.id] == "succeeded" and statuses[older.id] == "pending"

    async with app.unit_of_work() as session:
        await cancel_tenant(session, bot_id=second, actor="test")
    assert [p.status for p in await renewals(app, second)] == ["cancelled"]
    async with app.unit_of_work() as session:
        assert all(bot.id != second for _, bot in await billing.renewals_to_invoice(session))
        await resume_tenant(session, bot_id=second, actor="test", now=NOW)
    async with app.unit_of_work() as session:
        sub = await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == second))
        assert (sub.status, sub.auto_renewal) == ("active", True)
