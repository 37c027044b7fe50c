"""One lock order for the lifecycle (bots, then subscriptions, read after locking), and `billing tick` racing a payment."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from functools import partial

from sqlalchemy import select

from tenantctl.billing.service import billing_tick, record_payment
from tenantctl.core.db import run_in_transaction
from tenantctl.plans.models import TenantSubscription
from tenantctl.plans.service import set_grant
from tenantctl.tenants.lookup import resolve_bot
from tenantctl.tenants.models import Bot
from tests.billing.test_billing import END, state, tenants

LAPSED = END + timedelta(days=10)  # a tick now expires a subscription that ended at END (3 days' grace)
ROUNDS = 50


async def lapse(app, bot_id: int) -> None:
    """The tenant runs, but its paid period ended past the grace period: the next tick expires it."""
    async with app.unit_of_work() as session:
        (await session.get(Bot, bot_id)).status = "active"
        subscription = await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == bot_id))
        subscription.status, subscription.end_date = "active", END


async def tick_at(session, *, now):
    return await billing_tick(session, now=now, grace_days=3, notice_days=3, actor="cron")


async def pay_as_the_cli_does(session, *, bot_id: int, reference: str):
    """`billing record-payment`'s unit of work: the bot is looked up first, then paid for."""
    found = await resolve_bot(session, str(bot_id))
    return await record_payment(session, bot_id=found.id, amount_kopeks=500000, method="manual", reference=reference,
                                actor="cli", now=LAPSED)


async def test_a_payment_after_a_stale_read_of_the_bot_still_starts_it(app, tmp_path) -> None:
    first, second = await tenants(app, tmp_path)
    await lapse(app, first)
    async with app.unit_of_work() as paying:
        found = await resolve_bot(paying, str(first))  # read before the tick: status active
        async with app.unit_of_work() as ticking:
            assert [e["bot_id"] for e in (await tick_at(ticking, now=LAPSED)).expired] == [first, second]
        assert found.status == "active"
        await record_payment(paying, bot_id=found.id, amount_kopeks=500000, method="manual", reference="LATE",
                             actor="cli", now=LAPSED)
        assert found.status == "active"  # the locked row was read again
    assert (await state(app, first))[:2] == ("active", "active")


async def test_billing_tick_racing_record_payment_leaves_every_paid_tenant_running(app, tmp_path) -> None:
    """Concurrent transactions on either backend (aiosqlite runs each connection in its own thread).

    A grant change races too: its `recompute_flags` locks the starter plan's row (and no bot).
    """
    first, _ = await tenants(app, tmp_path)
    shuffle = random.Random(10)
    orders = set()

    async def after(delay: float, work):
        await asyncio.sleep(delay)
        return await run_in_transaction(app.sessions, work)

    for n in range(ROUNDS):
        await lapse(app, first)
        tick, paid, granted = await asyncio.gather(
            after(shuffle.uniform(0, 0.01), partial(tick_at, now=LAPSED)),
            after(shuffle.uniform(0, 0.01), partial(pay_as_the_cli_does, bot_id=first, reference=f"RACE-{n}")),
            after(shuffle.uniform(0, 0.01), partial(set_grant, plan="starter", feature="yookassa", enabled=n % 2 == 0,
                                                    actor="ops")),
            return_exceptions=True,
        )
        for name, outcome in [("tick", tick), ("payment", paid), ("grant", granted)]:
            assert not isinstance(outcome, BaseException), f"round {n}: the {name} failed: {outcome!r}"
        orders.add(first in [e["bot_id"] for e in tick.expired])  # True: the tick expired it before the payment
        bot_status, subscription_status, end, _on = await state(app, first)
        assert (bot_status, subscription_status) == ("active", "active"), f"round {n}"
        assert end > LAPSED
    assert orders == {True, False}  # both orders happened
