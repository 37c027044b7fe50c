"""`tenantctl tenant stats` through the real Typer app, on SQLite and PostgreSQL: the service's figures, and one-line errors."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from tenantctl.cli.main import app
from tenantctl.core.app import open_app
from tenantctl.core.db import utcnow
from tenantctl.customers.models import TrafficDaily, Transaction, User
from tenantctl.stats.dashboard import resolve_period, tenant_dashboard
from tenantctl.tenants.lookup import resolve_bot
from tests.tenants.test_cli import create, platform  # noqa: F401 (platform is a fixture)

runner = CliRunner()
GB = 1024**3


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _fill(settings) -> None:
    """Shop 1: two users, card-to-card and YooKassa income, a manual credit, a refund and traffic; Shop 2: a large deposit."""

    async def go() -> None:
        now = utcnow()
        async with open_app(settings) as opened, opened.unit_of_work() as session:
            shop1, shop2 = await resolve_bot(session, "Shop 1"), await resolve_bot(session, "Shop 2")
            users = [User(bot_id=shop1.id, telegram_id=1, created_at=now - timedelta(days=40)),
                     User(bot_id=shop1.id, telegram_id=2, created_at=now - timedelta(days=3)),
                     User(bot_id=shop2.id, telegram_id=3, created_at=now - timedelta(days=3))]
            session.add_all(users)
            await session.flush()
            rows = [(shop1.id, users[0].id, "subscription_payment", "card_to_card", 29_900, 35),
                    (shop1.id, users[0].id, "subscription_payment", "card_to_card", 29_900, 5),
                    (shop1.id, users[1].id, "deposit", "yookassa", 50_000, 2),
                    (shop1.id, users[1].id, "deposit", "manual", 100_000, 2),
                    (shop1.id, users[0].id, "refund", "card_to_card", 9_900, 4),
                    (shop2.id, users[2].id, "deposit", "card_to_card", 5_000_000, 2)]
            session.add_all([Transaction(bot_id=bot, user_id=user, kind=kind, payment_method=method, amount_kopeks=amount,
                                         external_id=f"e{n}", created_at=now - timedelta(days=days))
                             for n, (bot, user, kind, method, amount, days) in enumerate(rows)])
            session.add_all([TrafficDaily(bot_id=shop1.id, day=(now - timedelta(days=d)).date(), consumed_bytes=100 * GB,
                                          sold_bytes=150 * GB) for d in range(1, 40)])

    asyncio.run(go())


def _service(settings, **period) -> dict:
    async def go() -> dict:
        async with open_app(settings) as opened, opened.unit_of_work() as session:
            shop = await resolve_bot(session, "Shop 1")
            return (await tenant_dashboard(session, bot_id=shop.id, period=resolve_period(**period))).as_dict()

    return asyncio.run(go())


def _figures(data: dict) -> dict:
    """Everything but the instants the figures were taken at."""
    return {key: value for key, value in data.items() if key not in ("period", "generated_at")}


@pytest.fixture
def shops(cli_env, platform, settings) -> None:  # noqa: F811
    assert create(1).exit_code == 0 and create(2).exit_code == 0
    _fill(settings)


def test_stats_json_equals_the_service(shops, settings) -> None:
    printed = json.loads(ok("tenant", "stats", "Shop 1", "--json"))
    assert _figures(printed) == _figures(_service(settings))
    revenue = printed["revenue"]
    assert printed["period"]["name"] == "30d" and revenue["income"]["current"] == 29_900 + 50_000
    assert revenue["by_method"] == [{"method": "yookassa", "count": 1, "amount_kopeks": 50_000},
                                    {"method": "card_to_card", "count": 1, "amount_kopeks": 29_900}]
    assert revenue["not_income"] == [{"method": "manual", "count": 1, "amount_kopeks": 100_000}]
    assert (revenue["refunds"]["current"], revenue["profit"]["current"], revenue["income"]["previous"]) == (9_900, 70_000, 29_900)
    assert printed["traffic"]["consumed_bytes"]["current"] == 29 * 100 * GB  # days 1 to 29 ago; today has none

    week = json.loads(ok("tenant", "stats", "Shop 1", "--period", "7d", "--json"))
    assert _figures(week) == _figures(_service(settings, period="7d"))
    assert week["revenue"]["income"]["current"] == 79_900 and week["users"]["new"]["current"] == 1

    first = (utcnow() - timedelta(days=40)).date().isoformat()
    last = utcnow().date().isoformat()
    ranged = json.loads(ok("tenant", "stats", "Shop 1", "--from", first, "--to", last, "--json"))
    assert ranged["period"]["name"] == "range" and ranged["revenue"]["income"]["current"] == 29_900 * 2 + 50_000
    assert _figures(ranged) == _figures(_service(settings, date_from=first, date_to=last))


def test_stats_for_people(shops) -> None:
    out = ok("tenant", "stats", "Shop 1", "--period", "all")
    assert "Shop 1" in out and "all:" in out
    assert "income" in out and "1 098.00 RUB" in out  # 2 x 299 + 500 RUB: the manual credit is not income
    assert "card_to_card" in out and "manual (not income)" in out and "TB" in out


@pytest.mark.parametrize("args, message", [
    (("--period", "9d"), "unknown period '9d': use today, 7d, 30d, month, all or a date range"),
    (("--from", "2025-02-30", "--to", "2025-03-01"), "the first day '2025-02-30' is not a date (YYYY-MM-DD)"),
    (("--from", "2025-03-01"), "a date range needs both its first and its last day"),
    (("--period", "7d", "--from", "2025-03-01", "--to", "2025-03-02"), "give a period or a date range, not both"),
    (("--from", "2025-03-02", "--to", "2025-03-01"), "the range starts on 2025-03-02 after it ends on 2025-03-01"),
])
def test_bad_input_is_one_line(shops, args, message) -> None:
    result = runner.invoke(app, ["tenant", "stats", "Shop 1", *args])
    assert result.exit_code == 1 and result.output.replace("\n", " ").strip() == f"error: {message}", result.output


def test_unknown_bot_is_one_line(shops) -> None:
    result = runner.invoke(app, ["tenant", "stats", "Nobody"])
    assert result.exit_code == 1 and result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
