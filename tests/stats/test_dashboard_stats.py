"""A tenant's dashboard against figures computed here from the inserted rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, text, update

from tenantctl.core.app import App
from tenantctl.core.errors import Invalid, NotFound
from tenantctl.customers.models import Subscription, TrafficDaily, Transaction, User
from tenantctl.plans.models import TenantSubscriptionPlan
from tenantctl.stats.charts import income_chart_png, traffic_chart_png
from tenantctl.stats.dashboard import human_bytes, resolve_period, tenant_dashboard
from tenantctl.tenants.service import provision_tenant
from tests.tenants.support import setup_platform, tenant_token, write_env

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=timezone.utc)
UTC = timezone.utc
METHODS = ("card_to_card", "yookassa", "telegram_stars", "manual", "balance")
KINDS = ("deposit", "subscription_payment", "refund", "withdrawal")
STATUSES = ("succeeded", "succeeded", "succeeded", "succeeded", "failed", "pending", "refunded")
SHARE = 15  # the starter plan's revenue share in these tests


def at(day: int, month: int = 3, hour: int = 0) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


async def _tenants(app: App, tmp_path: Path) -> tuple[int, int]:
    """A master and tenants Alpha and Beta on the starter plan, whose revenue share is 15%."""
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        await session.execute(update(TenantSubscriptionPlan).where(TenantSubscriptionPlan.name == "starter")
                              .values(revenue_share_percent=SHARE))
        ids = []
        for n, name in enumerate(("Alpha", "Beta"), 1):
            result = await provision_tenant(session, name=name, token=tenant_token(n), owner_telegram_id=500 + n, plan="starter",
                                            box=app.secret_box, actor="test", identity=None)
            ids.append(result.bot.id)
    return ids[0], ids[1]


async def _fill(app: App, bot_id: int, seed: int, scale: int = 1) -> dict[str, list[dict]]:
    """Random users, subscriptions, transactions and traffic over the last 80 days; returns what was inserted."""
    rng = random.Random(seed)
    async with app.unit_of_work() as session:
        users = [User(bot_id=bot_id, telegram_id=seed * 1000 + i, is_blocked=rng.random() < 0.1,
                      created_at=NOW - timedelta(days=rng.uniform(0, 80)) + timedelta(minutes=1)) for i in range(40)]
        session.add_all(users)
        await session.flush()
        user_rows = [{"id": u.id, "created_at": u.created_at, "is_blocked": u.is_blocked} for u in users]
        subscriptions = []
        for user in user_rows:
            if rng.random() < 0.8:
                subscriptions.append({"bot_id": bot_id, "user_id": user["id"], "status": rng.choice(("trial", "active", "expired", "cancelled")),
                                      "start_date": user["created_at"], "end_date": NOW + timedelta(days=rng.uniform(-10, 10))})
        await session.execute(insert(Subscription), subscriptions)
        transactions = []
        for n in range(200):
            transactions.append({
                "bot_id": bot_id, "user_id": rng.choice(user_rows)["id"] if rng.random() < 0.95 else None,
                "kind": rng.choices(KINDS, weights=(4, 6, 1, 1))[0], "status": rng.choice(STATUSES),
                "payment_method": rng.choice(METHODS), "amount_kopeks": rng.randrange(100, 100_000) * scale,
                "external_id": f"t{seed}-{n}", "created_at": NOW - timedelta(days=rng.uniform(0, 75)),
            })
        await session.execute(insert(Transaction), transactions)
        traffic = [{"bot_id": bot_id, "day": NOW.date() - timedelta(days=d), "consumed_bytes": rng.randrange(10**9, 10**11) * scale,
                    "sold_bytes": rng.randrange(10**9, 10**11) * scale} for d in range(70)]
        await session.execute(insert(TrafficDaily), traffic)
    return {"users": user_rows, "subscriptions": subscriptions, "transactions": transactions, "traffic": traffic}


def _in(moment: datetime, start: datetime | None, end: datetime) -> bool:
    return (start is None or moment >= start) and moment < end


def _expected(rows: dict[str, list[dict]], start: datetime | None, end: datetime, share: int = SHARE) -> dict:
    """The figures of one window, computed from the rows by the rules the README states."""
    money = [t for t in rows["transactions"] if t["status"] == "succeeded" and _in(t["created_at"], start, end)]
    income_rows = [t for t in money if t["kind"] in ("deposit", "subscription_payment") and t["payment_method"] not in ("manual", "balance")]
    income = sum(t["amount_kopeks"] for t in income_rows)
    refunds = sum(t["amount_kopeks"] for t in money if t["kind"] == "refund" and t["payment_method"] != "balance")
    withdrawals = sum(t["amount_kopeks"] for t in money if t["kind"] == "withdrawal" and t["payment_method"] != "balance")
    users = sum(1 for u in rows["users"] if u["created_at"] < end)
    at_start = sum(1 for u in rows["users"] if start is not None and u["created_at"] < start)
    by_method = {}
    for t in income_rows:
        count, amount = by_method.get(t["payment_method"], (0, 0))
        by_method[t["payment_method"]] = (count + 1, amount + t["amount_kopeks"])
    paid = [t for t in rows["transactions"] if t["kind"] == "subscription_payment" and t["status"] == "succeeded"]
    firsts = [t for t in paid if _in(t["created_at"], start, end)
              and not any(e["user_id"] is not None and e["user_id"] == t["user_id"] and e["created_at"] < t["created_at"] for e in paid)]
    in_window = sum(1 for t in paid if _in(t["created_at"], start, end))
    joined = {u["id"] for u in rows["users"] if _in(u["created_at"], start, end)}
    took = {s["user_id"] for s in rows["subscriptions"] if s["user_id"] in joined}
    payers = {t["user_id"] for t in paid if t["user_id"] in joined and t["created_at"] < end}
    last_day = (end - timedelta(microseconds=1)).date()
    days = [d for d in rows["traffic"] if (start is None or d["day"] >= start.date()) and d["day"] <= last_day]
    commission = (income * share + 50) // 100
    return {
        "income": income, "refunds": refunds, "withdrawals": withdrawals, "profit": income - refunds - withdrawals,
        "commission": commission, "net": income - refunds - withdrawals - commission, "arpu": income // users if users else 0,
        "users": users, "new": users - at_start, "by_method": by_method,
        "purchases": len(firsts), "renewals": in_window - len(firsts),
        "conversion": len(payers) / len(took) if took else None,
        "consumed": sum(d["consumed_bytes"] for d in days), "sold": sum(d["sold_bytes"] for d in days),
    }


def _figures(dashboard, which: str) -> dict:
    """The same figures, read from the dashboard (`current` or `previous`)."""
    r, s = dashboard.revenue, dashboard.subscriptions
    got = {name: getattr(getattr(r, name), which) for name in ("income", "refunds", "withdrawals", "profit", "commission", "net", "arpu")}
    got.update(users=getattr(dashboard.users.total, which), new=getattr(dashboard.users.new, which),
               purchases=getattr(s.purchases, which), renewals=getattr(s.renewals, which), conversion=getattr(s.conversion, which),
               consumed=getattr(dashboard.traffic.consumed_bytes, which), sold=getattr(dashboard.traffic.sold_bytes, which))
    if which == "current":
        got["by_method"] = {m.method: (m.count, m.amount_kopeks) for m in r.by_method}
    return got


@pytest.mark.parametrize("spec", [("today", None, None), ("7d", None, None), ("30d", None, None), ("month", None, None),
                                  ("all", None, None), (None, "2025-02-01", "2025-02-28"), (None, "2025-01-01", "2025-01-20")])
async def test_every_figure_equals_the_rows_for_each_period_and_the_previous_one(app: App, tmp_path: Path, spec) -> None:
    alpha, beta = await _tenants(app, tmp_path)
    rows = await _fill(app, alpha, seed=1)
    await _fill(app, beta, seed=2, scale=1000)  # another tenant's rows, much larger: any leak shows
    period = resolve_period(spec[0], date_from=spec[1], date_to=spec[2], now=NOW)
    async with app.unit_of_work() as session:
        dashboard = await tenant_dashboard(session, bot_id=alpha, period=period, now=NOW)
    expected = _expected(rows, period.start, period.end)
    got = _figures(dashboard, "current")
    assert got == expected
    assert expected["income"] > 0 and (period.name == "today" or "card_to_card" in got["by_method"])
    if period.previous_start is None:
        assert {name: value for name, value in _figures(dashboard, "previous").items()} == dict.fromkeys(
            _figures(dashboard, "previous"), None)
    else:
        previous = _expected(rows, period.previous_start, period.previous_end)
        previous.pop("by_method")
        assert _figures(dashboard, "previous") == previous
        assert dashboard.revenue.income.change == expected["income"] - previous["income"]
    assert dashboard.revenue.revenue_share_percent == SHARE
    ratio = dashboard.traffic.sold_to_consumed
    assert ratio == (expected["sold"] / expected["consumed"] if expected["consumed"] else None)


async def test_snapshot_figures_and_the_daily_series(app: App, tmp_path: Path) -> None:
    alpha, beta = await _tenants(app, tmp_path)
    rows = await _fill(app, alpha, seed=3)
    await _fill(app, beta, seed=4, scale=1000)
    async with app.unit_of_work() as session:
        dashboard = await tenant_dashboard(session, bot_id=alpha, period=resolve_period("7d", now=NOW), now=NOW)
    subs = rows["subscriptions"]
    running = [s for s in subs if s["status"] in ("trial", "active") and s["end_date"] > NOW]
    s = dashboard.subscriptions
    assert (s.active, s.trial, s.paid) == (len(running), sum(x["status"] == "trial" for x in running),
                                          sum(x["status"] == "active" for x in running))
    assert s.expired == sum(x["status"] == "expired" or (x["status"] in ("trial", "active") and x["end_date"] <= NOW) for x in subs)
    assert s.expiring_3d == sum(x["end_date"] <= NOW + timedelta(days=3) for x in running)
    assert s.expiring_7d == sum(x["end_date"] <= NOW + timedelta(days=7) for x in running)
    u = dashboard.users
    assert u.active == len({x["user_id"] for x in running}) and u.blocked == sum(x["is_blocked"] for x in rows["users"])
    today = datetime(2025, 3, 15, tzinfo=UTC)
    assert (u.new_today, u.new_7d, u.new_30d) == tuple(sum(x["created_at"] >= today - timedelta(days=d) for x in rows["users"])
                                                       for d in (0, 6, 29))
    assert u.growth == u.new.current / (u.total.current - u.new.current)

    assert [d.day for d in dashboard.daily] == [date(2025, 3, 15) - timedelta(days=29 - n) for n in range(30)]
    for day in dashboard.daily:
        start = datetime(day.day.year, day.day.month, day.day.day, tzinfo=UTC)
        assert day.income_kopeks == _expected(rows, start, start + timedelta(days=1))["income"]
        traffic = next(t for t in rows["traffic"] if t["day"] == day.day)
        assert (day.consumed_bytes, day.sold_bytes) == (traffic["consumed_bytes"], traffic["sold_bytes"])

    async with app.unit_of_work() as session:  # the same income in plain SQL
        plain = await session.scalar(text(
            "SELECT COALESCE(SUM(amount_kopeks), 0) FROM transactions WHERE bot_id = :bot AND status = 'succeeded' "
            "AND kind IN ('deposit', 'subscription_payment') AND payment_method NOT IN ('manual', 'balance') "
            "AND created_at >= :start AND created_at < :end"),
            {"bot": alpha, "start": dashboard.period.start.replace(tzinfo=None), "end": NOW.replace(tzinfo=None)})
    assert dashboard.revenue.income.current == plain
    data = dashboard.as_dict()
    assert data["revenue"]["income"]["current"] == plain and len(data["daily"]) == 30


async def test_card_to_card_is_income_and_a_manual_credit_or_balance_spending_is_not(app: App, tmp_path: Path) -> None:
    alpha, beta = await _tenants(app, tmp_path)
    async with app.unit_of_work() as session:
        user = User(bot_id=alpha, telegram_id=1, created_at=at(1))
        session.add(user)
        await session.flush()
        rows = [("deposit", "card_to_card", 50_000, at(10)), ("subscription_payment", "balance", 30_000, at(10, hour=1)),
                ("deposit", "manual", 70_000, at(11)), ("subscription_payment", "card_to_card", 20_000, at(12)),
                ("subscription_payment", "yookassa", 25_000, at(13)), ("refund", "card_to_card", 5_000, at(13, hour=2)),
                ("refund", "balance", 4_000, at(13, hour=3)), ("withdrawal", "card_to_card", 1_000, at(14))]
        session.add_all([Transaction(bot_id=alpha, user_id=user.id, kind=kind, payment_method=method, amount_kopeks=amount,
                                     external_id=f"x{n}", created_at=when) for n, (kind, method, amount, when) in enumerate(rows)])
        session.add(Transaction(bot_id=alpha, kind="deposit", payment_method="card_to_card", amount_kopeks=99_000, status="pending",
                                external_id="waiting", created_at=at(12)))
        session.add(Transaction(bot_id=beta, kind="deposit", payment_method="card_to_card", amount_kopeks=1_000_000,
                                external_id="beta", created_at=at(12)))
    async with app.unit_of_work() as session:
        dashboard = await tenant_dashboard(session, bot_id=alpha, period=resolve_period("7d", now=NOW), now=NOW)
    r = dashboard.revenue
    assert [m.as_dict() for m in r.by_method] == [{"method": "card_to_card", "count": 2, "amount_kopeks": 70_000},
                                                 {"method": "yookassa", "count": 1, "amount_kopeks": 25_000}]
    assert [m.as_dict() for m in r.not_income] == [{"method": "manual", "count": 1, "amount_kopeks": 70_000},
                                                  {"method": "balance", "count": 1, "amount_kopeks": 30_000}]
    assert (r.income.current, r.refunds.current, r.withdrawals.current, r.profit.current) == (95_000, 5_000, 1_000, 89_000)
    assert (r.commission.current, r.net.current, r.arpu.current) == (14_250, 74_750, 95_000)
    assert (r.income.previous, r.profit.previous) == (0, 0)
    s = dashboard.subscriptions
    assert (s.purchases.current, s.renewals.current) == (1, 2)  # the balance payment on the 10th was the first


def test_periods_and_ranges() -> None:
    def window(*args, **kwargs):
        p = resolve_period(*args, now=NOW, **kwargs)
        return p.name, p.start, p.end, p.previous_start, p.previous_end

    assert window("today") == ("today", at(15), NOW, at(14), at(14, hour=12))
    assert window(" 7D ") == ("7d", at(9), NOW, at(2), at(8, hour=12))
    assert window() == window("30d") == ("30d", at(14, month=2), NOW, at(15, month=1), at(13, month=2, hour=12))
    assert window("month") == ("month", at(1), NOW, at(14, month=2), at(28, month=2, hour=12))
    assert window("all") == ("all", None, NOW, None, None)
    assert window(date_from="2025-02-01", date_to="2025-02-28") == ("range", at(1, month=2), at(1), at(4, month=1), at(1, month=2))
    assert window(date_from=date(2025, 3, 15), date_to="2025-03-15")[1:3] == (at(15), at(16))


@pytest.mark.parametrize("kwargs, message", [
    ({"period": "9d"}, "unknown period '9d': use today, 7d, 30d, month, all or a date range"),
    ({"period": "7d", "date_from": "2025-01-01", "date_to": "2025-01-02"}, "give a period or a date range, not both"),
    ({"date_from": "2025-01-01"}, "a date range needs both its first and its last day"),
    ({"date_from": "2025-02-30", "date_to": "2025-03-01"}, "the first day '2025-02-30' is not a date (YYYY-MM-DD)"),
    ({"date_from": "2025-03-01", "date_to": "yesterday"}, "the last day 'yesterday' is not a date (YYYY-MM-DD)"),
    ({"date_from": "2025-03-02", "date_to": "2025-03-01"}, "the range starts on 2025-03-02 after it ends on 2025-03-01"),
    ({"date_from": "0001-01-01", "date_to": "0001-01-02"}, "the range starting on 0001-01-01 has no previous period of equal length"),
    ({"date_from": "9999-12-30", "date_to": "9999-12-31"}, "the range ending on 9999-12-31 is out of bounds"),
])
def test_bad_periods_are_refused_in_one_line(kwargs, message) -> None:
    with pytest.raises(Invalid) as refused:
        resolve_period(now=NOW, **kwargs)
    assert str(refused.value) == message


async def test_an_unknown_or_master_bot_is_not_found(app: App, tmp_path: Path) -> None:
    await _tenants(app, tmp_path)
    async with app.unit_of_work() as session:
        for bot_id in (1, 999):  # 1 is the master
            with pytest.raises(NotFound):
                await tenant_dashboard(session, bot_id=bot_id, period=resolve_period(now=NOW), now=NOW)


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1536 * 1024**2, 3 * 1024**4, 2 * 1024**6)] == [
        "0 B", "1023 B", "1.50 GB", "3.00 TB", "2048.00 PB"]


async def test_charts_are_png(app: App, tmp_path: Path) -> None:
    alpha, _beta = await _tenants(app, tmp_path)
    await _fill(app, alpha, seed=5)
    async with app.unit_of_work() as session:
        dashboard = await tenant_dashboard(session, bot_id=alpha, period=resolve_period(now=NOW), now=NOW)
    for png in (income_chart_png(dashboard.daily), traffic_chart_png(dashboard.daily)):
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000
