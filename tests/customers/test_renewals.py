"""Which end users are reminded of their subscription's end: the window from the auto_renewal config, once per period,
each bot's own rows only, never a blocked user or a bot that is not active; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from tenantctl.customers.models import Subscription, User
from tenantctl.customers.renewals import due_reminders, mark_blocked, mark_reminded, remind_days
from tenantctl.tenants.models import Bot
from tests.customers.test_provisioning import NOW, grant, tenant


@pytest.mark.parametrize("config, days", [
    ({}, 3),
    ({"AUTOPAY_WARNING_DAYS": [3, 1], "DEFAULT_AUTOPAY_DAYS_BEFORE": 5}, 3),
    ({"AUTOPAY_WARNING_DAYS": "7,2"}, 7),
    ({"AUTOPAY_WARNING_DAYS": 2}, 2),
    ({"AUTOPAY_WARNING_DAYS": "", "DEFAULT_AUTOPAY_DAYS_BEFORE": 5}, 5),
    ({"AUTOPAY_WARNING_DAYS": "soon", "DEFAULT_AUTOPAY_DAYS_BEFORE": 0}, 3),
    ({"DEFAULT_AUTOPAY_DAYS_BEFORE": 400}, 30),
])
def test_the_window_comes_from_the_auto_renewal_config(config: dict, days: int) -> None:
    assert remind_days(config) == days


async def test_due_once_per_period_per_bot_never_blocked_or_stopped(app) -> None:
    alpha, (ann, bob, cid) = await tenant(app, telegram_ids=(501, 502, 503))
    beta, (dan,) = await tenant(app, telegram_ids=(501,), username="other_bot")
    for bot_id, user_id, days in ((alpha, ann, 2), (alpha, bob, 10), (alpha, cid, 2), (beta, dan, 2)):
        await grant(app, bot_id, user_id, days=days)
    async with app.unit_of_work() as session:
        await mark_blocked(session, bot_id=alpha, telegram_id=503)
        due = await due_reminders(session, windows={alpha: 3}, now=NOW)  # beta not running here: not asked for
    assert [(r.bot_id, r.user_id, r.telegram_id) for r in due] == [(alpha, ann, 501)]
    async with app.unit_of_work() as session:
        assert [r.user_id for r in await due_reminders(session, windows={alpha: 14, beta: 3}, now=NOW)] == [ann, dan, bob]
        await mark_reminded(session, bot_id=beta, subscription_id=due[0].subscription_id, now=NOW)  # another bot's row: untouched
        assert [r.user_id for r in await due_reminders(session, windows={alpha: 3}, now=NOW)] == [ann]
        await mark_reminded(session, bot_id=alpha, subscription_id=due[0].subscription_id, now=NOW)
        assert await due_reminders(session, windows={alpha: 3}, now=NOW) == []
        await session.execute(update(Bot).where(Bot.id == beta).values(status="suspended"))
        assert await due_reminders(session, windows={beta: 3}, now=NOW) == []
    await grant(app, alpha, ann, days=30, now=NOW)  # renewed: a new period, reminded again near its new end
    async with app.unit_of_work() as session:
        assert await due_reminders(session, windows={alpha: 3}, now=NOW) == []
        assert [r.user_id for r in await due_reminders(session, windows={alpha: 3}, now=NOW + timedelta(days=30))] == [ann]
        await session.execute(update(Subscription).where(Subscription.user_id == ann).values(status="expired"))
        await session.execute(update(User).where(User.id == cid).values(is_blocked=False))
        assert [r.user_id for r in await due_reminders(session, windows={alpha: 3}, now=NOW)] == [cid]
