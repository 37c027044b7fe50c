"""A tenant's whole dashboard (stats/dashboard.py) at scale on PostgreSQL, its charts, and on SQLite demo data.

On a throwaway PostgreSQL database: 200 tenants, 1,000,000 users (with subscriptions for about 3 in 4),
5,000,000 transactions over 90 days and 90 days of traffic, generated with generate_series; the largest
tenant holds 20% of the rows. The rows go in through the triggers of migrations 0010 and 0012, as any write does,
which fill transaction_daily, user_daily, subscription_daily and the users' first_paid_at, subscribed and
running_until. Times `tenant_dashboard` (every statistic, period 30d, one unit of work each, as the adapters
call it) for typical tenants and for the largest: p50 and p95. Targets: p95 <= 50 ms typical, <= 150 ms largest.
Then each chart (<= 150 ms, matplotlib's import apart) and the dashboard on `tenantctl demo`'s SQLite data
(<= 20 ms). Prints the EXPLAIN ANALYZE of the slowest statement.

Usage: python bench/dashboard_stats.py [--scale 0.1] [--runs 30]
PostgreSQL comes from TENANTCTL_BENCH_DATABASE_URL (default: the local trust-auth server); the database
is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url

from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.core.migrate import upgrade
from tenantctl.core.settings import Settings
from tenantctl.stats.dashboard import resolve_period, tenant_dashboard

SERVER = os.environ.get("TENANTCTL_BENCH_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
KEY = "x2kyw7PnK5e4qDQpTgg9bS5cjeZ8oRwUpTbnG81cZ8s="
TENANTS = 200
LARGEST_SHARE = 0.2
GB = 1024**3


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def generate(url: str, users: int, transactions: int) -> dict[str, float]:
    """Fill the database with generate_series; returns seconds per table."""
    big_users, big_txns = int(users * LARGEST_SHARE), int(transactions * LARGEST_SHARE)
    params = {"t": TENANTS, "users": users, "u1": big_users, "txns": transactions, "t1": big_txns, "gb": GB}

    def bot_of(limit: str) -> str:  # the first `limit` rows are the largest tenant's, the rest go round the others
        return f"CASE WHEN g <= %({limit})s THEN 1 ELSE 2 + (g - %({limit})s - 1) %% (%(t)s - 1) END"

    statements = {
        "bots": [
            "INSERT INTO tenant_subscription_plans (name, display_name, monthly_price_kopeks, revenue_share_percent) "
            "VALUES ('growth', 'Growth', 1000000, 10)",
            "INSERT INTO bots (id, name, name_key, token_encrypted, token_fingerprint, status) "
            "SELECT g, 'bench ' || g, 'bench ' || g, 'x', md5(g::text) || md5((-g)::text), 'active' FROM generate_series(1, %(t)s) g",
            "INSERT INTO tenant_subscriptions (bot_id, plan_tier_id, status, end_date) "
            "SELECT g, (SELECT id FROM tenant_subscription_plans), 'active', now() + interval '20 days' FROM generate_series(1, %(t)s) g",
        ],
        "users": [
            "INSERT INTO users (id, bot_id, telegram_id, is_blocked, created_at, updated_at) "
            f"SELECT g, {bot_of('u1')}, g, random() < 0.03, at, at "
            "FROM (SELECT g, now() - random() * interval '180 days' AS at FROM generate_series(1, %(users)s) g) s",
        ],
        "subscriptions": [
            "INSERT INTO subscriptions (bot_id, user_id, status, start_date, end_date, created_at, updated_at) "
            "SELECT bot_id, id, (ARRAY['trial', 'active', 'active', 'active', 'expired', 'expired', 'cancelled'])[1 + floor(random() * 7)::int], "
            "created_at, now() + (random() * 60 - 30) * interval '1 day', created_at, created_at FROM users WHERE random() < 0.75",
        ],
        "transactions": [
            "INSERT INTO transactions (bot_id, user_id, kind, status, amount_kopeks, payment_method, external_id, created_at) "
            "SELECT b, CASE WHEN b = 1 THEN 1 + floor(r1 * %(u1)s)::int "
            "ELSE %(u1)s + 1 + (b - 2) + (%(t)s - 1) * floor(r1 * ((%(users)s - %(u1)s - (b - 2) - 1) / (%(t)s - 1) + 1))::int END, "
            "CASE WHEN r2 < 0.55 THEN 'subscription_payment' WHEN r2 < 0.90 THEN 'deposit' WHEN r2 < 0.96 THEN 'refund' ELSE 'withdrawal' END, "
            "CASE WHEN r3 < 0.92 THEN 'succeeded' WHEN r3 < 0.97 THEN 'failed' ELSE 'pending' END, "
            "(ARRAY[9900, 19900, 29900, 79900, 249900, 50000])[1 + floor(r4 * 6)::int], "
            "(ARRAY['card_to_card', 'card_to_card', 'yookassa', 'cryptobot', 'telegram_stars', 'balance', 'manual'])[1 + floor(r5 * 7)::int], "
            "'bench-' || g, now() - r6 * interval '90 days' "
            f"FROM (SELECT g, {bot_of('t1')} AS b, random() r1, random() r2, random() r3, random() r4, "
            "random() r5, random() r6 FROM generate_series(1, %(txns)s) g) s",
        ],
        "traffic_daily": [
            "INSERT INTO traffic_daily (bot_id, day, consumed_bytes, sold_bytes) "
            "SELECT b, current_date - d, c, (c * (1.2 + random() * 0.6))::bigint "
            "FROM (SELECT b, d, ((50 + random() * 100) * %(gb)s * CASE WHEN b = 1 THEN 50 ELSE 1 END)::bigint AS c "
            "FROM generate_series(1, %(t)s) b, generate_series(0, 89) d) s",
        ],
    }
    seconds = {}
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for table, sqls in statements.items():
            started = time.perf_counter()
            for sql in sqls:
                conn.execute(sql, params)
            seconds[table] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        seconds["vacuum_analyze"] = round(time.perf_counter() - started, 1)
    return seconds


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


async def time_dashboards(app: App, bot_ids: list[int], runs: int, warmup: int = 3) -> list[float]:
    samples = []
    for run in range(warmup + runs):
        bot_id = bot_ids[run % len(bot_ids)]
        started = time.perf_counter()
        async with app.unit_of_work() as session:
            await tenant_dashboard(session, bot_id=bot_id, period=resolve_period("30d"))
        if run >= warmup:
            samples.append(time.perf_counter() - started)
    return samples


async def statement_timings(app: App, bot_id: int) -> list[tuple[float, str, object]]:
    """Run one dashboard, timing each statement: (seconds, statement, parameters), slowest first."""
    timings: list[tuple[float, str, object]] = []

    def before(conn, _cursor, _statement, _parameters, _context, _many):
        conn.info["started"] = time.perf_counter()

    def after(conn, _cursor, statement, parameters, _context, _many):
        timings.append((time.perf_counter() - conn.info.pop("started"), statement, parameters))

    event.listen(app.engine.sync_engine, "before_cursor_execute", before)
    event.listen(app.engine.sync_engine, "after_cursor_execute", after)
    try:
        async with app.unit_of_work() as session:
            await tenant_dashboard(session, bot_id=bot_id, period=resolve_period("30d"))
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", before)
        event.remove(app.engine.sync_engine, "after_cursor_execute", after)
    return sorted(timings, key=lambda timing: -timing[0])


def time_charts(daily, runs: int) -> dict[str, dict[str, float]]:
    started = time.perf_counter()
    from tenantctl.stats.charts import income_chart_png, traffic_chart_png

    income_chart_png(daily)  # the first draw imports matplotlib and loads its fonts
    result = {"import_and_first_draw_ms": round((time.perf_counter() - started) * 1000, 1)}
    for name, draw in (("income", income_chart_png), ("traffic", traffic_chart_png)):
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            png = draw(daily)
            samples.append(time.perf_counter() - started)
        assert png.startswith(b"\x89PNG")
        result[name] = {**percentiles(samples), "bytes": len(png)}
    return result


async def sqlite_demo(runs: int) -> dict[str, float]:
    from tenantctl.demo.service import EXAMPLE_ENV, build_demo
    from tenantctl.stats.service import list_tenants

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}", secret_key=KEY,
                            key_file=str(Path(folder) / "secret.key"))
        app = await App.open(settings, check_schema=False)
        try:
            await upgrade(app.engine)
            async with app.unit_of_work() as session:
                await build_demo(session, box=app.secret_box, env_path=str(EXAMPLE_ENV), actor="bench", now=utcnow())
            async with app.unit_of_work() as session:
                bot_ids = [row.bot.id for row in await list_tenants(session)]
            return percentiles(await time_dashboards(app, bot_ids, runs))
        finally:
            await app.close()


async def main(scale: float, runs: int) -> None:
    users, transactions = int(1_000_000 * scale), int(5_000_000 * scale)
    name = f"tenantctl_bench_dashboard_{os.getpid()}"
    with psycopg.connect(libpq(SERVER), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        app = await App.open(Settings(database_url=url, secret_key=KEY), check_schema=False)
        try:
            await upgrade(app.engine)
            generated = generate(url, users, transactions)
            typical = await time_dashboards(app, list(range(2, 22)), runs)
            largest = await time_dashboards(app, [1], runs)
            async with app.unit_of_work() as session:
                daily = (await tenant_dashboard(session, bot_id=1, period=resolve_period("30d"))).daily
            timings = await statement_timings(app, 1)
            _seconds, statement, parameters = timings[0]
            with psycopg.connect(libpq(url)) as conn:
                plan = "\n".join(row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters))
        finally:
            await app.close()
    finally:
        with psycopg.connect(libpq(SERVER), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    charts = time_charts(daily, runs)
    demo = await sqlite_demo(runs)
    result = {
        "bench": "dashboard_stats",
        "scale": scale,
        "rows": {"tenants": TENANTS, "users": users, "transactions": transactions, "traffic_days": TENANTS * 90,
                 "largest_tenant_share": LARGEST_SHARE},
        "generate_seconds": generated,
        "runs": runs,
        "postgresql_typical": percentiles(typical),
        "postgresql_largest": percentiles(largest),
        "charts": charts,
        "sqlite_demo": demo,
        "largest_statements_ms": [[round(seconds * 1000, 1), " ".join(sql.split())[:90]] for seconds, sql, _ in timings],
        "targets": {"typical_p95_ms": 50, "largest_p95_ms": 150, "chart_ms": 150, "sqlite_demo_ms": 20},
        "machine": f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    print("slowest statement of the largest tenant's dashboard:\n" + statement + "\n" + plan)
    print(json.dumps(result))
    t, big = result["postgresql_typical"], result["postgresql_largest"]
    print(f"dashboard 30d on PostgreSQL ({users:,} users, {transactions:,} transactions, {TENANTS} tenants): typical p50 {t['p50_ms']} ms "
          f"p95 {t['p95_ms']} ms (target <= 50), largest p50 {big['p50_ms']} ms p95 {big['p95_ms']} ms (target <= 150); charts p95 "
          f"income {charts['income']['p95_ms']} ms, traffic {charts['traffic']['p95_ms']} ms (target <= 150); SQLite demo p95 "
          f"{demo['p95_ms']} ms (target <= 20); {result['machine']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full row counts (0.1 for a quick run)")
    parser.add_argument("--runs", type=int, default=30, help="timed dashboards per tenant kind (after 3 warm-up runs)")
    args = parser.parse_args()
    asyncio.run(main(args.scale, args.runs))
