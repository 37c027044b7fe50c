"""A tenant's dashboard: users, subscriptions, revenue and traffic over a period, beside the previous period.

One service for every adapter (`tenantctl tenant stats`, the bot's dashboard, the HTTP API): call
`resolve_period`, then `tenant_dashboard`, and render `Dashboard` (or send `Dashboard.as_dict()`, which is
JSON-ready). Every query is filtered by bot_id. Money is integer kopeks; only ratios are floats.

What is counted, in the period:
- income: succeeded deposits and subscription payments through a real payment method (card to card
  included). A manual credit (`manual`) and spending from the balance (`balance`) bring no money in,
  so they are shown apart and never counted: a deposit and what is later bought with it count once;
- refunds and withdrawals: succeeded ones, except those to the user's balance (that money stays in the bot);
- profit = income - refunds - withdrawals; commission = income x the plan's revenue share (half a kopek
  rounds up); net = profit - commission; ARPU = income / the users at the end of the period;
- purchases: each user's first succeeded subscription payment (one per user; a payment with no user is a
  purchase of its own); renewals: the other succeeded subscription payments.

Where the figures come from: counters of whole UTC days, and the rows of the part of a day a window starts
or ends in (today up to now, the previous period's last day) or a "now" mark falls in:
- money and the daily income from `transaction_daily` and the transactions (migration 0010);
- user totals, new, blocked and active users, and purchases from `user_daily` (per day of joining, of the
  first payment, of the end of the latest running subscription) and the users (migration 0012);
- subscriptions now (running, expired, expiring) from `subscription_daily` (per status and day of the end)
  and the subscriptions ending on today's, the 3rd and the 7th day's partial days (migration 0012);
- conversion from `users.first_paid_at` and `users.subscribed` of the users who joined in the windows.
The database's triggers keep them exact whatever writes the users, subscriptions and transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import and_, case, func, literal, null, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.db import utcnow
from tenantctl.core.errors import Invalid
from tenantctl.customers.models import (
    Subscription,
    SubscriptionDaily,
    TrafficDaily,
    Transaction,
    TransactionDaily,
    User,
    UserDaily,
)
from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.tenants.service import get_tenant

PERIODS = ("today", "7d", "30d", "month", "all")
_ROLLING_DAYS = {"today": 1, "7d": 7, "30d": 30}
SERIES_DAYS = 30  # the daily series: today and the 29 days before
NOT_MONEY_IN = ("manual", "balance")  # a manual credit, spending from the balance: no money came in
BALANCE = "balance"
INCOME_KINDS = ("deposit", "subscription_payment")
RUNNING = ("trial", "active")  # a subscription with one of these statuses runs until its end date


@dataclass(frozen=True)
class Period:
    """[start, end) and the previous period of equal length; start None: all time (no previous period)."""

    name: str  # today, 7d, 30d, month, all, or range
    start: datetime | None
    end: datetime
    previous_start: datetime | None
    previous_end: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{key: moment.isoformat() if moment else None for key, moment in (
            ("start", self.start), ("end", self.end), ("previous_start", self.previous_start), ("previous_end", self.previous_end))}}


def _midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(timezone.utc).date(), time(), timezone.utc)


def _date(text: str | date, what: str) -> date:
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise Invalid(f"{what} {text!r} is not a date (YYYY-MM-DD)") from None


def resolve_period(period: str | None = None, *, date_from: str | date | None = None, date_to: str | date | None = None,
                   now: datetime | None = None) -> Period:
    """The period named (today, 7d, 30d, month, all; default 30d) or the date range from..to (inclusive), in UTC."""
    now = now or utcnow()
    today = _midnight(now)
    if date_from is not None or date_to is not None:
        if period is not None:
            raise Invalid("give a period or a date range, not both")
        if date_from is None or date_to is None:
            raise Invalid("a date range needs both its first and its last day")
        first, last = _date(date_from, "the first day"), _date(date_to, "the last day")
        if first > last:
            raise Invalid(f"the range starts on {first} after it ends on {last}")
        name, days = "range", (last - first).days + 1
        try:
            start, end = datetime.combine(first, time(), timezone.utc), datetime.combine(last, time(), timezone.utc) + timedelta(days=1)
        except OverflowError:
            raise Invalid(f"the range ending on {last} is out of bounds") from None
    else:
        name = (period or "30d").strip().lower()
        if name not in PERIODS:
            raise Invalid(f"unknown period {period!r}: use {', '.join(PERIODS)} or a date range")
        if name == "all":
            return Period(name, None, now, None, None)
        start = today.replace(day=1) if name == "month" else today - timedelta(days=_ROLLING_DAYS[name] - 1)
        end, days = now, (today - start).days + 1
    shift = timedelta(days=days)
    try:
        return Period(name, start, end, start - shift, end - shift)
    except OverflowError:
        raise Invalid(f"the range starting on {start.date()} has no previous period of equal length") from None


@dataclass(frozen=True)
class Compared:
    """A figure in the period and in the previous period of equal length (None for all time)."""

    current: int | float | None
    previous: int | float | None

    @property
    def change(self) -> int | float | None:
        return None if self.current is None or self.previous is None else self.current - self.previous

    @property
    def change_ratio(self) -> float | None:
        """(current - previous) / previous; None when there is nothing to compare with."""
        return None if self.change is None or not self.previous else self.change / self.previous

    def as_dict(self) -> dict[str, Any]:
        return {"current": self.current, "previous": self.previous, "change": self.change, "change_ratio": self.change_ratio}


@dataclass(frozen=True)
class UserStats:
    """Users: totals at the ends of the periods, who joined, and the state now."""

    total: Compared  # users at the end of the period (and of the previous one)
    new: Compared  # joined in the period
    growth: float | None  # joined in the period / users at its start
    active: int  # with a running subscription now
    blocked: int
    new_today: int
    new_7d: int
    new_30d: int

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total.as_dict(), "new": self.new.as_dict(), "growth": self.growth, "active": self.active,
                "blocked": self.blocked, "new_today": self.new_today, "new_7d": self.new_7d, "new_30d": self.new_30d}


@dataclass(frozen=True)
class SubscriptionStats:
    """Subscriptions now (running = trial or paid, before its end date), and what was bought in the periods."""

    active: int  # running: trial + paid
    trial: int
    paid: int
    expired: int  # expired, or trial/paid past its end date
    expiring_3d: int  # running, ending within 3 days
    expiring_7d: int
    conversion: Compared  # of the users who joined and took a subscription (trial or paid), the share who paid for one
    purchases: Compared  # subscription payments that were their user's first
    renewals: Compared  # subscription payments after the first

    def as_dict(self) -> dict[str, Any]:
        return {"active": self.active, "trial": self.trial, "paid": self.paid, "expired": self.expired,
                "expiring_3d": self.expiring_3d, "expiring_7d": self.expiring_7d, "conversion": self.conversion.as_dict(),
                "purchases": self.purchases.as_dict(), "renewals": self.renewals.as_dict()}


@dataclass(frozen=True)
class MethodTotal:
    """How many succeeded payments came through one payment method in the period, and their amount."""

    method: str
    count: int
    amount_kopeks: int

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "count": self.count, "amount_kopeks": self.amount_kopeks}


@dataclass(frozen=True)
class RevenueStats:
    """Money in kopeks: income, refunds, withdrawals, profit, the platform's commission and what is left."""

    income: Compared
    refunds: Compared
    withdrawals: Compared
    profit: Compared  # income - refunds - withdrawals
    commission: Compared  # income x revenue_share_percent
    net: Compared  # profit - commission
    arpu: Compared  # income / users at the end of the period
    revenue_share_percent: int
    by_method: list[MethodTotal]  # income per real payment method in the period, largest first
    not_income: list[MethodTotal]  # manual credits and balance spending in the period: shown, never counted

    def as_dict(self) -> dict[str, Any]:
        compared = ("income", "refunds", "withdrawals", "profit", "commission", "net", "arpu")
        return {**{name: getattr(self, name).as_dict() for name in compared}, "revenue_share_percent": self.revenue_share_percent,
                "by_method": [m.as_dict() for m in self.by_method], "not_income": [m.as_dict() for m in self.not_income]}


@dataclass(frozen=True)
class TrafficStats:
    """Traffic consumed and sold on the days of the period, in bytes (`human_bytes` for people)."""

    consumed_bytes: Compared
    sold_bytes: Compared
    sold_to_consumed: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"consumed_bytes": self.consumed_bytes.as_dict(), "sold_bytes": self.sold_bytes.as_dict(),
                "sold_to_consumed": self.sold_to_consumed}


@dataclass(frozen=True)
class DayFigures:
    """One day of the 30-day series."""

    day: date
    income_kopeks: int
    consumed_bytes: int
    sold_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "income_kopeks": self.income_kopeks, "consumed_bytes": self.consumed_bytes,
                "sold_bytes": self.sold_bytes}


@dataclass(frozen=True)
class Dashboard:
    """Every figure of one tenant's dashboard; `as_dict()` is what `tenant stats --json` prints."""

    bot_id: int
    period: Period
    generated_at: datetime
    users: UserStats
    subscriptions: SubscriptionStats
    revenue: RevenueStats
    traffic: TrafficStats
    daily: list[DayFigures]  # the last 30 days, oldest first, whatever the period

    def as_dict(self) -> dict[str, Any]:
        return {"bot_id": self.bot_id, "period": self.period.as_dict(), "generated_at": self.generated_at.isoformat(),
                "users": self.users.as_dict(), "subscriptions": self.subscriptions.as_dict(), "revenue": self.revenue.as_dict(),
                "traffic": self.traffic.as_dict(), "daily": [d.as_dict() for d in self.daily]}


def human_bytes(amount: int) -> str:
    """1610612736 -> '1.50 GB' (binary units, as traffic limits are counted)."""
    value, unit = float(amount), "B"
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1024 or unit == "PB":
            break
        value /= 1024
    return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"


def _ratio(part: int | None, whole: int | None) -> float | None:
    return None if part is None or not whole else part / whole


def _between(column, start: datetime | None, end: datetime):
    return column < end if start is None else and_(column >= start, column < end)


async def _user_counts(session: AsyncSession, bot_id: int, now: datetime, before: dict[str, set[datetime]]) -> dict[Any, int]:
    """The bot's users counted from user_daily: for each name in `before` ("joined": created_at, "first_paid":
    first_paid_at) and each of its moments, the users whose column is before it; "all" users, the "blocked" ones
    and the "active" ones (running_until after now).

    Whole UTC days come from user_daily; the part of a day a moment falls in from the users themselves (one
    range of the column's index each), in the same statement."""
    counters = {"joined": (UserDaily.joined, User.created_at), "first_paid": (UserDaily.first_paid, User.first_paid_at)}
    today = _midnight(now)

    def users(*where) -> Any:
        return select(func.count()).where(User.bot_id == bot_id, *where).scalar_subquery()

    keys: list[Any] = ["all", "blocked", "active"]
    figures = [func.sum(UserDaily.joined), func.sum(UserDaily.blocked),
               func.sum(UserDaily.running_ends).filter(UserDaily.day > today.date())]
    edges = {"active": users(User.running_until > now, User.running_until < today + timedelta(days=1))}
    for name, moments in before.items():
        counter, column = counters[name]
        for moment in sorted(moments):
            midnight = _midnight(moment)
            keys.append((name, moment))
            figures.append(func.sum(counter).filter(UserDaily.day < midnight.date()))
            if midnight < moment:
                edges[name, moment] = users(column >= midnight, column < moment)
    rollup = select(*(figure.label(f"c{n}") for n, figure in enumerate(figures))).where(UserDaily.bot_id == bot_id).subquery()
    row = (await session.execute(select(*rollup.c, *edges.values()))).one()
    counts = dict(zip(keys, (int(value or 0) for value in row)))
    for key, n in zip(edges, row[len(keys):]):
        counts[key] += int(n)
    return counts


def _users(counts: dict[Any, int], period: Period, now: datetime) -> UserStats:
    today = _midnight(now)

    def joined_before(moment: datetime | None) -> int | None:
        return None if moment is None else counts["joined", moment]

    total, at_start = joined_before(period.end), joined_before(period.start)
    previous_total, previous_at_start = joined_before(period.previous_end), joined_before(period.previous_start)
    new = Compared(total - (at_start or 0), None if period.previous_end is None else previous_total - previous_at_start)
    return UserStats(total=Compared(total, previous_total), new=new, growth=_ratio(new.current, at_start), active=counts["active"],
                     blocked=counts["blocked"], new_today=counts["all"] - counts["joined", today],
                     new_7d=counts["all"] - counts["joined", today - timedelta(days=6)],
                     new_30d=counts["all"] - counts["joined", today - timedelta(days=29)])


def _user_moments(period: Period, now: datetime) -> dict[str, set[datetime]]:
    """The moments `_users` and `_purchases` count users before."""
    today = _midnight(now)
    bounds = {moment for moment in (period.start, period.end, period.previous_start, period.previous_end) if moment is not None}
    return {"joined": bounds | {today, today - timedelta(days=6), today - timedelta(days=29)}, "first_paid": bounds}


async def _subscriptions_now(session: AsyncSession, bot_id: int, now: datetime) -> dict[str, int]:
    """Subscriptions now: running (trial or paid, ending after now), expired (or running past their end), ending within
    3 and 7 days. Whole UTC days of end_date come from subscription_daily; the day each mark falls in from the rows
    (one range of ix_subscriptions_bot_status each), in the same statement."""
    marks = (now, now + timedelta(days=3), now + timedelta(days=7))
    counted = SubscriptionDaily.count
    figures = {"expired": func.sum(counted).filter(SubscriptionDaily.status == "expired")}
    figures.update({status: func.sum(counted).filter(SubscriptionDaily.status == status) for status in RUNNING})
    figures.update({(status, index): func.sum(counted).filter(SubscriptionDaily.status == status,
                                                              SubscriptionDaily.end_day > _midnight(mark).date())
                    for status in RUNNING for index, mark in enumerate(marks)})
    edges = {(status, index): select(func.count()).where(
        Subscription.bot_id == bot_id, Subscription.status == status, Subscription.end_date > mark,
        Subscription.end_date < _midnight(mark) + timedelta(days=1)).scalar_subquery()
        for status in RUNNING for index, mark in enumerate(marks)}
    rollup = (select(*(figure.label(f"c{n}") for n, figure in enumerate(figures.values())))
              .where(SubscriptionDaily.bot_id == bot_id).subquery())
    row = (await session.execute(select(*rollup.c, *edges.values()))).one()
    got = dict(zip(figures, (int(value or 0) for value in row)))
    for key, n in zip(edges, row[len(figures):]):
        got[key] += int(n)

    def running_after(index: int) -> int:
        return sum(got[status, index] for status in RUNNING)

    active = running_after(0)
    return {"active": active, "trial": got["trial", 0], "paid": got["active", 0],
            "expired": got["expired"] + sum(got[status] for status in RUNNING) - active,
            "expiring_3d": active - running_after(1), "expiring_7d": active - running_after(2)}


def _windows(period: Period) -> list[tuple[str, datetime | None, datetime]]:
    return [("current", period.start, period.end)] + ([("previous", period.previous_start, period.previous_end)]
                                                       if period.previous_end is not None else [])


def _next_midnight(moment: datetime) -> datetime:
    midnight = _midnight(moment)
    return midnight if midnight == moment else midnight + timedelta(days=1)


@dataclass(frozen=True)
class _Split:
    """A window [start, end) as the whole UTC days the rollup answers, [first_day, end_day), and the raw edges around them."""

    first_day: date | None  # None: no lower bound
    end_day: date
    edges: list[tuple[datetime | None, datetime]]


def _split(start: datetime | None, end: datetime) -> _Split:
    first = None if start is None else _next_midnight(start)
    last = _midnight(end)
    if first is not None and first >= last:  # inside one day, or up to its midnight: no whole day
        return _Split(last.date(), last.date(), [(start, end)])
    edges = ([(start, first)] if start is not None and start < first else []) + ([(last, end)] if last < end else [])
    return _Split(None if first is None else first.date(), last.date(), edges)


def _in_days(column, split: _Split):
    return column < split.end_day if split.first_day is None else and_(column >= split.first_day, column < split.end_day)


async def _money(session: AsyncSession, bot_id: int, period: Period, series: tuple[date, date]
                 ) -> tuple[list[tuple[str, str, str, int, int]], dict[date, int]]:
    """Succeeded transactions by window, kind and method; and the income of each day of the series.

    Whole UTC days come from transaction_daily; a window's part of a day (today, the previous period's last day)
    from the transactions themselves."""
    windows = [(name, _split(start, end)) for name, start, end in _windows(period)]
    day = TransactionDaily.day
    whens = [(_in_days(day, split), name) for name, split in windows if split.first_day != split.end_day]
    bucket = case(*whens) if whens else null()  # no whole day in either window: the rollup only gives the series
    in_series = and_(day >= series[0], day < series[1])
    series_day = case((in_series, day))
    rollup = (await session.execute(
        select(bucket, series_day, TransactionDaily.kind, TransactionDaily.payment_method, func.sum(TransactionDaily.count),
               func.sum(TransactionDaily.amount_kopeks))
        .where(TransactionDaily.bot_id == bot_id, TransactionDaily.status == "succeeded",
               or_(in_series, *(_in_days(day, split) for _name, split in windows)))
        .group_by(*([bucket] if whens else []), series_day, TransactionDaily.kind, TransactionDaily.payment_method))).all()
    rows = [tuple(row) for row in rollup]
    edges = [select(literal(name), Transaction.kind, Transaction.payment_method, func.count(), func.sum(Transaction.amount_kopeks))
             .where(Transaction.bot_id == bot_id, Transaction.status == "succeeded", _between(Transaction.created_at, start, end))
             .group_by(Transaction.kind, Transaction.payment_method)
             for name, split in windows for start, end in split.edges]  # one range of the covering index each
    if edges:
        rows += [(name, None, kind, method, n, amount)
                 for name, kind, method, n, amount in (await session.execute(union_all(*edges))).all()]
    totals: dict[tuple[str, str, str], list[int]] = {}
    income: dict[date, int] = {}
    for name, when, kind, method, n, amount in rows:
        if name is not None:
            counts = totals.setdefault((name, kind, method), [0, 0])
            counts[0] += int(n)
            counts[1] += int(amount)
        if when is not None and kind in INCOME_KINDS and method not in NOT_MONEY_IN:
            when = when if isinstance(when, date) else date.fromisoformat(when)
            income[when] = income.get(when, 0) + int(amount)
    return [(name, kind, method, n, amount) for (name, kind, method), (n, amount) in totals.items()], income


def _bucket(column, period: Period):
    """'current' or 'previous' for a moment in one of the windows; NULL otherwise."""
    return case(*((_between(column, start, end), name) for name, start, end in _windows(period)))


async def _purchases(session: AsyncSession, bot_id: int, period: Period, counts: dict[Any, int]) -> dict[str, int]:
    """Per window, the subscription payments that were their user's first: users whose first_paid_at falls in it
    (from `_user_counts`), and payments with no user (each is a first)."""
    no_user = _bucket(Transaction.created_at, period)
    firsts = {name: counts["first_paid", end] - (0 if start is None else counts["first_paid", start])
              for name, start, end in _windows(period)}
    for name, n in (await session.execute(
            select(no_user, func.count())
            .where(Transaction.bot_id == bot_id, Transaction.user_id.is_(None), Transaction.kind == "subscription_payment",
                   Transaction.status == "succeeded", _between(Transaction.created_at, period.previous_start or period.start, period.end))
            .group_by(no_user))).all():
        if name is not None:
            firsts[name] += int(n)
    return firsts


async def _conversion(session: AsyncSession, bot_id: int, period: Period) -> dict[str, float | None]:
    """Of the users who joined in each window and took a subscription (trial or paid), the share who paid for one."""
    windows = _windows(period)
    figures = []
    for _name, start, end in windows:
        joined = _between(User.created_at, start, end)
        figures += [func.count().filter(joined, User.subscribed), func.count().filter(joined, User.first_paid_at < end)]
    row = (await session.execute(select(*figures).where(
        User.bot_id == bot_id, _between(User.created_at, period.previous_start or period.start, period.end)))).one()
    return {name: _ratio(int(row[2 * n + 1]), int(row[2 * n])) for n, (name, _start, _end) in enumerate(windows)}


def _days(start: datetime | None, end: datetime):
    """The traffic days a period covers: from the day it starts to the day of its last instant."""
    last = (end - timedelta(microseconds=1)).date()
    return TrafficDaily.day <= last if start is None else and_(TrafficDaily.day >= start.date(), TrafficDaily.day <= last)


async def _traffic(session: AsyncSession, bot_id: int, period: Period, series_first: date) -> tuple[TrafficStats, dict[date, tuple[int, int]]]:
    figures = [func.coalesce(func.sum(TrafficDaily.consumed_bytes).filter(_days(period.start, period.end)), 0),
               func.coalesce(func.sum(TrafficDaily.sold_bytes).filter(_days(period.start, period.end)), 0)]
    if period.previous_start is not None:
        previous = _days(period.previous_start, period.previous_end)
        figures += [func.coalesce(func.sum(TrafficDaily.consumed_bytes).filter(previous), 0),
                    func.coalesce(func.sum(TrafficDaily.sold_bytes).filter(previous), 0)]
    row = [int(value) for value in (await session.execute(select(*figures).where(TrafficDaily.bot_id == bot_id))).one()]
    consumed, sold, prev_consumed, prev_sold = row + [None, None] if len(row) == 2 else row
    series = {day: (int(c), int(s)) for day, c, s in (await session.execute(
        select(TrafficDaily.day, TrafficDaily.consumed_bytes, TrafficDaily.sold_bytes)
        .where(TrafficDaily.bot_id == bot_id, TrafficDaily.day >= series_first))).all()}
    return TrafficStats(Compared(consumed, prev_consumed), Compared(sold, prev_sold), _ratio(sold, consumed)), series


async def _revenue_share(session: AsyncSession, bot_id: int) -> int:
    share = await session.scalar(select(TenantSubscriptionPlan.revenue_share_percent)
                                 .join(TenantSubscription, TenantSubscription.plan_tier_id == TenantSubscriptionPlan.id)
                                 .where(TenantSubscription.bot_id == bot_id))
    return int(share or 0)


def _revenue(rows: list[tuple[str, str, str, int, int]], previous: bool, share: int, users: Compared) -> RevenueStats:
    sums = {(name, what): 0 for name in ("current", "previous") for what in ("income", "refund", "withdrawal")}
    methods: dict[tuple[bool, str], list[int]] = {}
    for name, kind, method, count, amount in rows:
        if name == "gap":
            continue
        if kind in INCOME_KINDS:
            counted = method not in NOT_MONEY_IN
            if counted:
                sums[name, "income"] += amount
            if name == "current":
                totals = methods.setdefault((counted, method), [0, 0])
                totals[0] += count
                totals[1] += amount
        elif method != BALANCE:
            sums[name, kind] += amount

    def compared(what: str) -> Compared:
        return Compared(sums["current", what], sums["previous", what] if previous else None)

    def of(values: Compared, make) -> Compared:
        return Compared(make(values.current, "current"), None if values.previous is None else make(values.previous, "previous"))

    income, refunds, withdrawals = compared("income"), compared("refund"), compared("withdrawal")
    commission = of(income, lambda amount, _name: (amount * share + 50) // 100)
    profit = of(income, lambda amount, name: amount - sums[name, "refund"] - sums[name, "withdrawal"])
    net = of(profit, lambda amount, name: amount - (commission.current if name == "current" else commission.previous))
    arpu = Compared(income.current // users.current if users.current else 0,
                    None if income.previous is None else (income.previous // users.previous if users.previous else 0))
    listed = sorted(((counted, MethodTotal(method, count, amount)) for (counted, method), (count, amount) in methods.items()),
                    key=lambda item: (-item[1].amount_kopeks, item[1].method))
    return RevenueStats(income, refunds, withdrawals, profit, commission, net, arpu, share,
                        [m for counted, m in listed if counted], [m for counted, m in listed if not counted])


async def tenant_dashboard(session: AsyncSession, *, bot_id: int, period: Period, now: datetime | None = None) -> Dashboard:
    """Every dashboard figure of one tenant over `period` (from `resolve_period`) and the previous period."""
    now = now or utcnow()
    await get_tenant(session, bot_id)
    if session.bind.dialect.name == "postgresql":
        # compiling costs more than these short queries take; parallel workers would each build the same hashes
        await session.execute(text("SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0"))
    has_previous = period.previous_start is not None
    subs = await _subscriptions_now(session, bot_id, now)
    counts = await _user_counts(session, bot_id, now, _user_moments(period, now))
    users = _users(counts, period, now)
    first = _midnight(now).date() - timedelta(days=SERIES_DAYS - 1)
    money, income_days = await _money(session, bot_id, period, (first, _midnight(now).date() + timedelta(days=1)))
    paid = {name: sum(n for bucket, kind, _method, n, _amount in money if bucket == name and kind == "subscription_payment")
            for name in ("current", "previous")}
    firsts, conversion = await _purchases(session, bot_id, period, counts), await _conversion(session, bot_id, period)

    def compared(figures: dict[str, int | float | None]) -> Compared:
        return Compared(figures.get("current"), figures.get("previous") if has_previous else None)

    subscriptions = SubscriptionStats(
        active=subs["active"], trial=subs["trial"], paid=subs["paid"], expired=subs["expired"], expiring_3d=subs["expiring_3d"],
        expiring_7d=subs["expiring_7d"], conversion=compared(conversion),
        purchases=compared({name: firsts.get(name, 0) for name in paid}),
        renewals=compared({name: paid[name] - firsts.get(name, 0) for name in paid}),
    )
    revenue = _revenue(money, has_previous, await _revenue_share(session, bot_id), users.total)
    traffic, traffic_days = await _traffic(session, bot_id, period, first)
    daily = []
    for offset in range(SERIES_DAYS):
        day = first + timedelta(days=offset)
        consumed, sold = traffic_days.get(day, (0, 0))
        daily.append(DayFigures(day, income_days.get(day, 0), consumed, sold))
    return Dashboard(bot_id, period, now, users, subscriptions, revenue, traffic, daily)
