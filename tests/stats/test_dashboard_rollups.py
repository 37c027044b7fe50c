"""The dashboard's rollups (migration 0010) stay exact through every kind of write, on SQLite and PostgreSQL:
transaction_daily equals the transactions grouped by bot, UTC day, kind, method and status,
users.first_paid_at equals each user's first succeeded subscription payment, and users.subscribed whether
the user has a subscription. Periods that start or end inside a day add the raw rows of those edges to the
rollup's whole days."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, text, update

from tenantctl.core import migrate
from tenantctl.core.app import App
from tenantctl.core.db import create_engine
from tenantctl.customers.models import Subscription, Transaction, TransactionDaily, User
from tenantctl.stats.dashboard import resolve_period, tenant_dashboard
from tests.stats.test_dashboard_stats import NOW, _expected, _figures, _tenants

UTC = timezone.utc
PAID = {"kind": "subscription_payment", "status": "succeeded"}


async def _assert_exact(app: App) -> None:
    """The rollup and the markers against the transactions and subscriptions, recomputed here."""
    async with app.unit_of_work() as session:
        rows = (await session.execute(select(Transaction))).scalars().all()
        subscribers = {(bot, user) for bot, user in (await session.execute(select(Subscription.bot_id, Subscription.user_id))).all()}
        subscribed = {id: flag for id, flag in (await session.execute(select(User.id, User.subscribed))).all()}
        rollup = {(r.bot_id, r.day, r.kind, r.payment_method, r.status): (r.count, r.amount_kopeks)
                  for r in (await session.execute(select(TransactionDaily))).scalars()}
        marked = {id: when for id, when in (await session.execute(select(User.id, User.first_paid_at))).all()}
        owners = {id: bot for id, bot in (await session.execute(select(User.id, User.bot_id))).all()}
    expected: dict[tuple, tuple[int, int]] = {}
    first: dict[int, datetime | None] = dict.fromkeys(marked)
    for t in rows:
        key = (t.bot_id, t.created_at.date(), t.kind, t.payment_method, t.status)
        count, amount = expected.get(key, (0, 0))
        expected[key] = (count + 1, amount + t.amount_kopeks)
        if t.kind == PAID["kind"] and t.status == PAID["status"] and t.user_id is not None and owners[t.user_id] == t.bot_id:
            first[t.user_id] = min(filter(None, (first[t.user_id], t.created_at)))
    assert rollup == expected
    assert marked == first
    assert subscribed == {id: (owners[id], id) in subscribers for id in owners}


def _txn(bot_id: int, user_id: int | None, when: datetime, n: int, **fields) -> dict:
    return {"bot_id": bot_id, "user_id": user_id, "kind": "deposit", "status": "succeeded", "payment_method": "card_to_card",
            "amount_kopeks": 10_000, "external_id": f"r{n}", "created_at": when, **fields}


async def test_rollup_and_first_payment_stay_exact_through_every_write(app: App, tmp_path: Path) -> None:
    alpha, beta = await _tenants(app, tmp_path)
    day = datetime(2025, 3, 10, 23, 59, tzinfo=UTC)
    async with app.unit_of_work() as session:
        users = [User(bot_id=bot, telegram_id=n, created_at=day - timedelta(days=20)) for n, bot in enumerate((alpha, alpha, beta))]
        session.add_all(users)
        await session.flush()
        one, two, other = (u.id for u in users)
        session.add(Transaction(**_txn(alpha, one, day, 1, kind="subscription_payment", status="pending")))  # ORM, one row
    await _assert_exact(app)
    async with app.unit_of_work() as session:  # a bulk insert, several rows per group, both bots
        await session.execute(insert(Transaction), [
            _txn(alpha, one, day + timedelta(minutes=n), 10 + n, **(PAID if n % 2 else {})) for n in range(6)] + [
            _txn(beta, other, day, 20, **PAID), _txn(alpha, None, day, 21, **PAID), _txn(alpha, two, day, 22, kind="refund")])
    await _assert_exact(app)

    steps = [
        update(Transaction).where(Transaction.external_id == "r1").values(status="succeeded"),  # pending -> succeeded: the first
        update(Transaction).where(Transaction.external_id == "r1").values(status="refunded"),  # no longer paid: the next is first
        update(Transaction).where(Transaction.external_id == "r11").values(amount_kopeks=99_999),
        update(Transaction).where(Transaction.external_id == "r13").values(created_at=day - timedelta(days=3)),  # earlier day
        update(Transaction).where(Transaction.external_id == "r15").values(user_id=two),  # another user's now
        update(Transaction).where(Transaction.external_id == "r12").values(kind="withdrawal", payment_method="yookassa"),
        update(Transaction).where(Transaction.bot_id == alpha).values(external_id=Transaction.external_id + "x"),  # no rollup column
        delete(Transaction).where(Transaction.external_id == "r13x"),  # the first payment goes
        update(Transaction).where(Transaction.user_id == one).values(status="succeeded", kind="subscription_payment"),
        insert(Subscription).values(bot_id=alpha, user_id=two, status="trial", start_date=day, end_date=day),
        insert(Subscription).values(bot_id=alpha, user_id=two, status="active", start_date=day, end_date=day),
        update(Subscription).where(Subscription.status == "trial").values(user_id=one),  # both have one now
        update(Subscription).values(traffic_used_bytes=1),  # no marker column
        delete(Subscription).where(Subscription.user_id == two),
        delete(User).where(User.id == two),  # its payments keep their rows, with no user
        delete(Transaction).where(Transaction.bot_id == alpha, Transaction.amount_kopeks == 10_000),
    ]
    for step in steps:
        async with app.unit_of_work() as session:
            await session.execute(step)
        await _assert_exact(app)

    async with app.unit_of_work() as session:  # a bulk insert of subscriptions, then one user's go with the user
        await session.execute(insert(Subscription), [{"bot_id": beta, "user_id": other, "status": "active", "start_date": day,
                                                      "end_date": day}] * 2)
    await _assert_exact(app)
    async with app.unit_of_work() as session:  # a bot's deletion cascades through all of them
        await session.execute(text("DELETE FROM bots WHERE id = :id"), {"id": beta})
    await _assert_exact(app)
    async with app.unit_of_work() as session:
        assert await session.scalar(select(TransactionDaily.count).where(TransactionDaily.bot_id == beta)) is None


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has no TRUNCATE (a DELETE fires the row triggers)
async def test_a_truncate_on_postgresql_empties_the_rollup_and_the_markers(app: App, tmp_path: Path) -> None:
    alpha, _beta = await _tenants(app, tmp_path)
    async with app.unit_of_work() as session:
        user = User(bot_id=alpha, telegram_id=1)
        session.add(user)
        await session.flush()
        session.add(Transaction(**_txn(alpha, user.id, NOW, 1, **PAID)))
        session.add(Subscription(bot_id=alpha, user_id=user.id, status="active", start_date=NOW, end_date=NOW))
    async with app.unit_of_work() as session:
        await session.execute(text("TRUNCATE transactions, subscriptions CASCADE"))
    await _assert_exact(app)


async def test_a_users_payments_at_the_same_instant_are_one_purchase_and_one_renewal(app: App, tmp_path: Path) -> None:
    alpha, _beta = await _tenants(app, tmp_path)
    async with app.unit_of_work() as session:
        user = User(bot_id=alpha, telegram_id=1, created_at=NOW - timedelta(days=5))
        session.add(user)
        await session.flush()
        await session.execute(insert(Transaction), [_txn(alpha, user.id, NOW - timedelta(days=2), n, **PAID) for n in range(2)]
                              + [_txn(alpha, None, NOW - timedelta(days=1), 5, **PAID)])  # no user: a purchase of its own
    async with app.unit_of_work() as session:
        s = (await tenant_dashboard(session, bot_id=alpha, period=resolve_period("7d", now=NOW), now=NOW)).subscriptions
    assert (s.purchases.current, s.renewals.current, s.conversion.current) == (2, 1, None)


EDGES = [
    ("today", None, None, NOW),
    ("7d", None, None, NOW),
    ("30d", None, None, NOW),
    ("30d", None, None, datetime(2025, 3, 15, 0, 0, 0, 1, tzinfo=UTC)),  # a microsecond into the day
    ("month", None, None, datetime(2025, 3, 1, 23, 59, 59, tzinfo=UTC)),  # the period within one day
    ("all", None, None, NOW),
    (None, "2025-03-10", "2025-03-14", NOW),  # whole days only
    (None, "2025-03-15", "2025-03-15", NOW),  # today as a range: its rows after now count too
]


@pytest.mark.parametrize("spec", EDGES)
async def test_periods_starting_or_ending_inside_a_day_add_the_rows_of_their_edges(app: App, tmp_path: Path, spec) -> None:
    name, first, last, now = spec
    alpha, beta = await _tenants(app, tmp_path)
    period = resolve_period(name, date_from=first, date_to=last, now=now)
    async with app.unit_of_work() as session:
        user = User(bot_id=alpha, telegram_id=1, created_at=datetime(2025, 1, 1, tzinfo=UTC))
        session.add(user)
        await session.flush()
        users = [{"id": user.id, "created_at": user.created_at, "is_blocked": False}]
        moments = sorted({moment + shift for moment in (period.start, period.end, period.previous_start, period.previous_end,
                                                        period.end.replace(hour=0, minute=0, second=0, microsecond=0))
                          if moment is not None for shift in (-timedelta(microseconds=1), timedelta(0), timedelta(hours=6))})
        rows = [_txn(alpha, users[0]["id"] if n % 3 else None, when, n, amount_kopeks=1000 + n,
                     payment_method=("card_to_card", "yookassa", "manual")[n % 3], **(PAID if n % 2 else {}))
                for n, when in enumerate(moments)]
        await session.execute(insert(Transaction), rows)
        await session.execute(insert(Transaction), [{**row, "bot_id": beta, "user_id": None, "amount_kopeks": 10**9} for row in rows])
    async with app.unit_of_work() as session:
        dashboard = await tenant_dashboard(session, bot_id=alpha, period=period, now=now)
    inserted = {"users": users, "subscriptions": [], "transactions": rows, "traffic": []}
    assert _figures(dashboard, "current") == _expected(inserted, period.start, period.end)
    if period.previous_start is not None:
        previous = _expected(inserted, period.previous_start, period.previous_end)
        previous.pop("by_method")
        assert _figures(dashboard, "previous") == previous
    for figures in dashboard.daily:
        start = datetime(figures.day.year, figures.day.month, figures.day.day, tzinfo=UTC)
        assert figures.income_kopeks == _expected(inserted, start, start + timedelta(days=1))["income"]


async def test_the_upgrade_fills_the_rollup_and_the_marker_from_existing_rows(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await migrate.upgrade(engine, "0009")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO bots (id, name, name_key, token_encrypted, token_fingerprint) "
                                    "VALUES (1, 'a', 'a', 'x', 'f1'), (2, 'b', 'b', 'x', 'f2')"))
            await conn.execute(text("INSERT INTO users (id, bot_id, telegram_id) VALUES (1, 1, 1), (2, 1, 2), (3, 2, 3)"))
            await conn.execute(insert(Subscription), [{"bot_id": 1, "user_id": 2, "status": "trial", "start_date": NOW, "end_date": NOW}])
            await conn.execute(insert(Transaction), [
                _txn(1, 1, datetime(2025, 3, 1, 23, tzinfo=UTC), 1, **PAID), _txn(1, 1, datetime(2025, 3, 1, 22, tzinfo=UTC), 2, **PAID),
                _txn(1, 1, datetime(2025, 3, 2, 1, tzinfo=UTC), 3), _txn(1, 2, datetime(2025, 3, 2, tzinfo=UTC), 4, kind="subscription_payment", status="failed"),
                _txn(2, 3, datetime(2025, 3, 1, tzinfo=UTC), 5, **PAID)])
        await migrate.upgrade(engine, "0010")
        async with engine.connect() as conn:
            rollup = (await conn.execute(text("SELECT bot_id, day, kind, status, count, amount_kopeks FROM transaction_daily "
                                              "ORDER BY bot_id, day, kind, status"))).all()
            marked = (await conn.execute(select(User.id, User.first_paid_at, User.subscribed).order_by(User.id))).all()
        assert [(bot, str(day), kind, status, count, amount) for bot, day, kind, status, count, amount in rollup] == [
            (1, "2025-03-01", "subscription_payment", "succeeded", 2, 20_000), (1, "2025-03-02", "deposit", "succeeded", 1, 10_000),
            (1, "2025-03-02", "subscription_payment", "failed", 1, 10_000), (2, "2025-03-01", "subscription_payment", "succeeded", 1, 10_000)]
        assert [tuple(row) for row in marked] == [(1, datetime(2025, 3, 1, 22, tzinfo=UTC), False), (2, None, True),
                                                  (3, datetime(2025, 3, 1, tzinfo=UTC), False)]
        await migrate.downgrade(engine, "0009")
        async with engine.begin() as conn:  # the triggers went with the table
            await conn.execute(insert(Transaction), [_txn(1, 2, datetime(2025, 3, 3, tzinfo=UTC), 6, **PAID)])
        await migrate.upgrade(engine, "0010")
        async with engine.connect() as conn:
            assert (await conn.scalar(select(User.first_paid_at).where(User.id == 2))) == datetime(2025, 3, 3, tzinfo=UTC)
    finally:
        await engine.dispose()
