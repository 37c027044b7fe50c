"""The dashboard's counters (migration 0012) stay exact through every kind of write, on SQLite and PostgreSQL:
user_daily equals the users counted per bot and UTC day of joining (and blocked), of first payment and of
running_until; subscription_daily the subscriptions per bot, status and UTC day of end_date; users.running_until
the end of each user's latest running subscription. The "now" figures add the rows of the partial days their
marks fall in to the counters' whole days."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, text, update

from tenantctl.core import migrate
from tenantctl.core.app import App
from tenantctl.core.db import create_engine
from tenantctl.customers.models import (
    Subscription,
    SubscriptionDaily,
    Transaction,
    User,
    UserDaily,
)
from tenantctl.stats.dashboard import resolve_period, tenant_dashboard
from tests.stats.test_dashboard_rollups import PAID, _txn
from tests.stats.test_dashboard_rollups import _assert_exact as _assert_rollups_exact
from tests.stats.test_dashboard_stats import NOW, _tenants

UTC = timezone.utc
RUNNING = ("trial", "active")


async def _assert_exact(app: App) -> None:
    """The counters and running_until against the users and subscriptions, recomputed here; 0010's rollups too."""
    async with app.unit_of_work() as session:
        users = (await session.execute(select(User.id, User.bot_id, User.created_at, User.is_blocked, User.first_paid_at,
                                              User.running_until))).all()
        subscriptions = (await session.execute(select(Subscription.bot_id, Subscription.user_id, Subscription.status,
                                                      Subscription.end_date))).all()
        user_daily = {(r.bot_id, r.day): (r.joined, r.blocked, r.first_paid, r.running_ends)
                      for r in (await session.execute(select(UserDaily))).scalars()}
        subscription_daily = {(r.bot_id, r.status, r.end_day): r.count
                              for r in (await session.execute(select(SubscriptionDaily))).scalars()}
    until: dict[int, datetime | None] = {}
    for user in users:
        ends = [s.end_date for s in subscriptions if s.user_id == user.id and s.status in RUNNING]
        until[user.id] = max(ends, default=None)
    expected_users: dict[tuple, list[int]] = {}

    def add(bot_id: int, moment: datetime | None, column: int, n: int = 1) -> None:
        if moment is not None:
            expected_users.setdefault((bot_id, moment.date()), [0, 0, 0, 0])[column] += n

    for user in users:
        add(user.bot_id, user.created_at, 0)
        add(user.bot_id, user.created_at, 1, int(user.is_blocked))
        add(user.bot_id, user.first_paid_at, 2)
        add(user.bot_id, until[user.id], 3)
    expected_subscriptions: dict[tuple, int] = {}
    for s in subscriptions:
        key = (s.bot_id, s.status, s.end_date.date())
        expected_subscriptions[key] = expected_subscriptions.get(key, 0) + 1
    assert {user.id: user.running_until for user in users} == until
    assert user_daily == {key: tuple(counts) for key, counts in expected_users.items()}
    assert subscription_daily == expected_subscriptions
    await _assert_rollups_exact(app)


def _sub(bot_id: int, user_id: int, status: str, end: datetime) -> dict:
    return {"bot_id": bot_id, "user_id": user_id, "status": status, "start_date": end - timedelta(days=30), "end_date": end}


async def test_the_counters_stay_exact_through_every_write(app: App, tmp_path: Path) -> None:
    alpha, beta = await _tenants(app, tmp_path)
    day = datetime(2025, 3, 10, 23, 59, tzinfo=UTC)
    async with app.unit_of_work() as session:  # the ORM, one row at a time
        session.add(User(bot_id=alpha, telegram_id=1, created_at=day))
    await _assert_exact(app)
    async with app.unit_of_work() as session:  # a bulk insert, several users per day, both bots
        await session.execute(insert(User), [{"bot_id": bot, "telegram_id": n, "created_at": day - timedelta(hours=n),
                                              "is_blocked": n % 3 == 0}
                                             for n, bot in ((2, alpha), (3, alpha), (4, beta), (5, beta), (6, alpha))])
        ids = {telegram: id for telegram, id in (await session.execute(select(User.telegram_id, User.id))).all()}
    await _assert_exact(app)
    one, two, three, other, lone = ids[1], ids[2], ids[3], ids[4], ids[6]

    steps = [
        insert(Subscription).values(_sub(alpha, one, "trial", day + timedelta(days=3))),
        insert(Subscription).values([_sub(alpha, one, "active", day + timedelta(days=5)), _sub(alpha, two, "active", day),
                                     _sub(alpha, two, "expired", day + timedelta(days=9)), _sub(beta, other, "trial", day)]),
        update(Subscription).where(Subscription.user_id == one, Subscription.status == "active")
        .values(end_date=day + timedelta(days=1)),  # the latest is the trial now
        update(Subscription).where(Subscription.user_id == one, Subscription.status == "trial").values(status="cancelled"),
        update(Subscription).where(Subscription.user_id == two, Subscription.status == "expired").values(status="active"),
        update(Subscription).where(Subscription.user_id == two, Subscription.end_date == day).values(user_id=three),
        update(Subscription).where(Subscription.user_id == three).values(bot_id=beta),  # not in its user's bot
        update(Subscription).where(Subscription.user_id == three).values(bot_id=alpha),
        update(Subscription).values(traffic_used_bytes=1),  # no counted column
        update(Subscription).where(Subscription.bot_id == alpha, Subscription.status != "cancelled")
        .values(end_date=day + timedelta(days=2)),  # several rows, days and users at once
        update(User).where(User.id == one).values(created_at=day - timedelta(days=40)),
        update(User).where(User.bot_id == alpha).values(is_blocked=True),
        update(User).where(User.id == lone).values(bot_id=beta),  # another bot's user now
        (update(User).where(User.id == three).values(bot_id=beta),  # with its subscriptions
         update(Subscription).where(Subscription.user_id == three).values(bot_id=beta)),
        update(User).values(balance_kopeks=5),  # no counted column
        insert(Transaction).values(_txn(alpha, one, day - timedelta(days=2), 1, **PAID)),  # 0010 sets first_paid_at
        insert(Transaction).values(_txn(alpha, one, day - timedelta(days=4), 2, **PAID)),  # an earlier first payment
        delete(Transaction).where(Transaction.external_id == "r2"),
        delete(Subscription).where(Subscription.user_id == two),
        delete(User).where(User.id == one),  # its subscriptions go with it
    ]
    for step in steps:
        async with app.unit_of_work() as session:
            for statement in step if isinstance(step, tuple) else (step,):
                await session.execute(statement)
        await _assert_exact(app)

    async with app.unit_of_work() as session:  # a bot's deletion cascades through its users, subscriptions and counters
        await session.execute(text("DELETE FROM bots WHERE id = :id"), {"id": beta})
    await _assert_exact(app)
    async with app.unit_of_work() as session:
        assert await session.scalar(select(UserDaily.joined).where(UserDaily.bot_id == beta)) is None
        assert await session.scalar(select(SubscriptionDaily.count).where(SubscriptionDaily.bot_id == beta)) is None


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has no TRUNCATE (a DELETE fires the row triggers)
async def test_a_truncate_on_postgresql_empties_the_counters(app: App, tmp_path: Path) -> None:
    alpha, _beta = await _tenants(app, tmp_path)
    async with app.unit_of_work() as session:
        users = [User(bot_id=alpha, telegram_id=n) for n in range(2)]
        session.add_all(users)
        await session.flush()
        session.add_all([Subscription(**_sub(alpha, user.id, "active", NOW)) for user in users])
    async with app.unit_of_work() as session:
        await session.execute(text("TRUNCATE subscriptions CASCADE"))
    await _assert_exact(app)
    async with app.unit_of_work() as session:
        await session.execute(text("TRUNCATE users CASCADE"))
    await _assert_exact(app)


NOWS = [NOW, datetime(2025, 3, 15, tzinfo=UTC), datetime(2025, 3, 15, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2025, 3, 15, 23, 59, 59, 999999, tzinfo=UTC)]


@pytest.mark.parametrize("now", NOWS)
async def test_the_figures_now_add_the_rows_of_the_partial_days(app: App, tmp_path: Path, now: datetime) -> None:
    alpha, beta = await _tenants(app, tmp_path)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    marks = [mark + shift for mark in (now, now + timedelta(days=3), now + timedelta(days=7), today, today + timedelta(days=1),
                                       today - timedelta(days=6), today - timedelta(days=29), now - timedelta(days=30))
             for shift in (-timedelta(microseconds=1), timedelta(0), timedelta(microseconds=1), timedelta(hours=5))]
    statuses = ("trial", "active", "expired", "cancelled")
    async with app.unit_of_work() as session:
        for bot in (alpha, beta):
            await session.execute(insert(User), [{"bot_id": bot, "telegram_id": n, "created_at": mark, "is_blocked": n % 4 == 0}
                                                 for n, mark in enumerate(marks)])
        ids = (await session.execute(select(User.id).where(User.bot_id == alpha).order_by(User.id))).scalars().all()
        subscriptions = [_sub(alpha, ids[n % len(ids)], statuses[n % 4], mark) for n, mark in enumerate(marks * 2)]
        await session.execute(insert(Subscription), subscriptions + [{**s, "bot_id": beta} for s in subscriptions])
        await session.execute(insert(Transaction), [_txn(alpha, id, mark, n, **PAID) for n, (id, mark) in enumerate(zip(ids, marks))])
    await _assert_exact(app)
    async with app.unit_of_work() as session:
        dashboard = await tenant_dashboard(session, bot_id=alpha, period=resolve_period("30d", now=now), now=now)
    running = [s for s in subscriptions if s["status"] in RUNNING and s["end_date"] > now]
    s = dashboard.subscriptions
    assert (s.active, s.trial, s.paid) == (len(running), sum(x["status"] == "trial" for x in running),
                                          sum(x["status"] == "active" for x in running))
    assert s.expired == sum(x["status"] == "expired" or (x["status"] in RUNNING and x["end_date"] <= now) for x in subscriptions)
    assert s.expiring_3d == sum(x["end_date"] <= now + timedelta(days=3) for x in running)
    assert s.expiring_7d == sum(x["end_date"] <= now + timedelta(days=7) for x in running)
    u = dashboard.users
    assert u.active == len({x["user_id"] for x in running})
    assert u.blocked == sum(n % 4 == 0 for n in range(len(marks)))
    assert (u.new_today, u.new_7d, u.new_30d) == tuple(sum(mark >= today - timedelta(days=d) for mark in marks) for d in (0, 6, 29))
    period = dashboard.period
    assert (u.total.current, u.total.previous) == (sum(mark < period.end for mark in marks),
                                                   sum(mark < period.previous_end for mark in marks))
    assert (u.new.current, u.new.previous) == (sum(period.start <= mark < period.end for mark in marks),
                                               sum(period.previous_start <= mark < period.previous_end for mark in marks))
    assert (s.purchases.current, s.purchases.previous) == (u.new.current, u.new.previous)  # each user paid once, as it joined


async def test_the_upgrade_fills_the_counters_from_existing_rows(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await migrate.upgrade(engine, "0011")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO bots (id, name, name_key, token_encrypted, token_fingerprint) "
                                    "VALUES (1, 'a', 'a', 'x', 'f1'), (2, 'b', 'b', 'x', 'f2')"))
            await conn.execute(insert(User.__table__), [
                {"id": id, "bot_id": bot, "telegram_id": id, "is_blocked": blocked, "created_at": when}
                for id, bot, blocked, when in ((1, 1, False, datetime(2025, 3, 1, 10, tzinfo=UTC)),
                                               (2, 1, True, datetime(2025, 3, 1, 23, tzinfo=UTC)),
                                               (3, 2, False, datetime(2025, 3, 2, tzinfo=UTC)))])
            await conn.execute(insert(Subscription), [_sub(1, 1, "trial", datetime(2025, 3, 20, 5, tzinfo=UTC)),
                                                      _sub(1, 1, "active", datetime(2025, 3, 21, 5, tzinfo=UTC)),
                                                      _sub(1, 2, "expired", datetime(2025, 3, 21, 6, tzinfo=UTC)),
                                                      _sub(2, 3, "active", datetime(2025, 3, 20, tzinfo=UTC))])
            await conn.execute(insert(Transaction), [_txn(1, 2, datetime(2025, 3, 2, 1, tzinfo=UTC), 1, **PAID)])
        await migrate.upgrade(engine, "0012")
        async with engine.connect() as conn:
            users = (await conn.execute(select(UserDaily.bot_id, UserDaily.day, UserDaily.joined, UserDaily.blocked,
                                               UserDaily.first_paid, UserDaily.running_ends)
                                        .order_by(UserDaily.bot_id, UserDaily.day))).all()
            subscriptions = (await conn.execute(select(SubscriptionDaily.bot_id, SubscriptionDaily.status, SubscriptionDaily.end_day,
                                                       SubscriptionDaily.count)
                                                .order_by(SubscriptionDaily.bot_id, SubscriptionDaily.status))).all()
            until = (await conn.execute(select(User.running_until).order_by(User.id))).scalars().all()
        assert [(bot, str(day), *counts) for bot, day, *counts in users] == [
            (1, "2025-03-01", 2, 1, 0, 0), (1, "2025-03-02", 0, 0, 1, 0), (1, "2025-03-21", 0, 0, 0, 1),
            (2, "2025-03-02", 1, 0, 0, 0), (2, "2025-03-20", 0, 0, 0, 1)]
        assert [(bot, status, str(day), n) for bot, status, day, n in subscriptions] == [
            (1, "active", "2025-03-21", 1), (1, "expired", "2025-03-21", 1), (1, "trial", "2025-03-20", 1), (2, "active", "2025-03-20", 1)]
        assert until == [datetime(2025, 3, 21, 5, tzinfo=UTC), None, datetime(2025, 3, 20, tzinfo=UTC)]
        await migrate.downgrade(engine, "0011")
        async with engine.begin() as conn:  # the triggers went with the tables
            await conn.execute(insert(Subscription), [_sub(1, 2, "trial", datetime(2025, 3, 25, tzinfo=UTC))])
        await migrate.upgrade(engine, "0012")
        async with engine.connect() as conn:
            assert (await conn.scalar(select(User.running_until).where(User.id == 2))) == datetime(2025, 3, 25, tzinfo=UTC)
    finally:
        await engine.dispose()
