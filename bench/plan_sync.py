"""Grant changes at scale on PostgreSQL: 1,000, 10,000 and 100,000 tenants on one plan.

For each size, times a grant change (the grant edit, its recompute and the commit; median of several
changes) with `bot_feature_flags` as a view over the plan's snapshot and the bots' exceptions, and, in
the same database, the previous approach: the same change written as one row per tenant into a table
holding every tenant's flags (the DELETE and INSERT ... SELECT the recompute used to run). Also times
how long after the commit a FeatureGate in another engine, kept fresh by LISTEN/NOTIFY, answers the
new value, and `FeatureGate.is_enabled` on a loaded bot. Figures are printed, never checked.

Usage: python bench/plan_sync.py [--tenants 1000,10000,100000] [--runs R]
PostgreSQL comes from TENANTCTL_BENCH_DATABASE_URL (default: the local trust-auth server); a
throwaway database is created and dropped. Tenants are made by generate_series, not one by one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
import timeit

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from tenantctl.core.app import App
from tenantctl.core.migrate import upgrade
from tenantctl.core.settings import Settings
from tenantctl.flags.gate import FeatureGate
from tenantctl.flags.live import FlagWatcher
from tenantctl.flags.models import BotFeatureFlag, BotFlagException, Feature
from tenantctl.plans.effective import recompute_flags
from tenantctl.plans.service import create_plan, set_grant
from tenantctl.tenants.overrides import set_override

SERVER = os.environ.get("TENANTCTL_BENCH_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
FEATURES = 40
FEATURE = "feature_7"
OVERRIDES = 20  # bots with their own override of FEATURE: exceptions the grant change rewrites
WATCHED = 100  # bots loaded in the other engine's gate

# the table the previous approach kept: one row per tenant and feature (migration 0001's bot_feature_flags)
LEGACY_TABLE = """
CREATE TABLE legacy_flags (
    bot_id integer NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    feature_key varchar(100) NOT NULL REFERENCES features (key) ON DELETE CASCADE ON UPDATE CASCADE,
    enabled boolean NOT NULL, value varchar(64), config jsonb NOT NULL, source varchar(16) NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(), user_splits jsonb,
    PRIMARY KEY (bot_id, feature_key)
);
CREATE INDEX ix_legacy_flags_feature ON legacy_flags (feature_key, enabled)
"""
LEGACY_REWRITE = """
DELETE FROM legacy_flags WHERE feature_key = :key
  AND bot_id IN (SELECT bot_id FROM tenant_subscriptions WHERE plan_tier_id = :plan);
INSERT INTO legacy_flags (bot_id, feature_key, enabled, value, config, source, user_splits)
SELECT s.bot_id, :key, true, NULL, CAST(:config AS jsonb), 'plan', NULL
FROM tenant_subscriptions s WHERE s.plan_tier_id = :plan
"""


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                  if line.startswith("model name")), platform.processor() or platform.machine())
    memory = next((int(line.split()[1]) // 1024 // 1024 for line in open("/proc/meminfo", encoding="utf-8")
                   if line.startswith("MemTotal")), 0)
    return f"{platform.node()}: {model}, {os.cpu_count()} cores, {memory} GiB, Python {platform.python_version()}"


async def setup(app: App) -> int:
    async with app.unit_of_work() as s:
        s.add_all(Feature(key=f"feature_{i}", env_key=f"FEATURE_{i}_ENABLED", category="other", kind="switch",
                          default_config={"LIMIT": i, "OPTS": {"a": 1}}, config_keys=["LIMIT", "OPTS"]) for i in range(FEATURES))
        await s.flush()
        plan = await create_plan(s, name="growth", actor="bench", monthly_price_kopeks=1000000)
        await s.execute(text(LEGACY_TABLE.split(";")[0]))
        await s.execute(text(LEGACY_TABLE.split(";")[1]))
        return plan.id


async def add_tenants(app: App, plan_id: int, upto: int) -> None:
    """Tenants up to `upto` on the plan, each with its row per feature in the previous approach's table."""
    async with app.unit_of_work() as s:
        have = await s.scalar(select(func.count()).select_from(text("bots")))
        await s.execute(text(
            "INSERT INTO bots (name, name_key, token_encrypted, token_fingerprint, status) "
            "SELECT 'bench ' || g, 'bench ' || translate(g::text, '01', 'ol'), 'x', md5(g::text) || md5('f' || g), 'active' "
            "FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) g"), {"first": have + 1, "last": upto})
        await s.execute(text(
            "INSERT INTO tenant_subscriptions (bot_id, plan_tier_id, end_date) "
            "SELECT b.id, :plan, now() + interval '30 days' FROM bots b "
            "WHERE NOT EXISTS (SELECT 1 FROM tenant_subscriptions s WHERE s.bot_id = b.id)"), {"plan": plan_id})
        await recompute_flags(s)
        await s.execute(text(
            "INSERT INTO legacy_flags (bot_id, feature_key, enabled, value, config, source, user_splits, updated_at) "
            "SELECT bot_id, feature_key, enabled, value, config, source, user_splits, updated_at FROM bot_feature_flags f "
            "WHERE NOT EXISTS (SELECT 1 FROM legacy_flags l WHERE l.bot_id = f.bot_id)"))
    async with app.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))


async def grant_change(app: App, value: int) -> float:
    start = time.perf_counter()
    async with app.unit_of_work() as s:
        await set_grant(s, plan="growth", feature=FEATURE, actor="bench", config={"LIMIT": value})
    return time.perf_counter() - start


async def legacy_change(app: App, plan_id: int, value: int) -> float:
    start = time.perf_counter()
    async with app.unit_of_work() as s:
        for statement in LEGACY_REWRITE.split(";"):
            await s.execute(text(statement), {"key": FEATURE, "plan": plan_id,
                                              "config": json.dumps({"LIMIT": value, "OPTS": {"a": 1}})})
    return time.perf_counter() - start


async def seen_by_gate(app: App, gate: FeatureGate, watched: list[int], value: int) -> float:
    """Milliseconds from the change's commit until the other engine's gate answers it for every watched bot."""
    await grant_change(app, value)
    committed = time.perf_counter()

    async def seen() -> None:
        while any(gate.config(b, FEATURE).get("LIMIT") != value for b in watched):
            await asyncio.sleep(0.0005)

    await asyncio.wait_for(seen(), 10)
    return (time.perf_counter() - committed) * 1000


async def measure(app: App, other: App, plan_id: int, tenants: int, runs: int, base: int) -> dict:
    async with app.unit_of_work() as s:
        for bot_id in (await s.scalars(select(BotFeatureFlag.bot_id).distinct().order_by(BotFeatureFlag.bot_id)
                                       .limit(OVERRIDES))).all():
            await set_override(s, bot_id=bot_id, feature=FEATURE, enabled=False, reason="bench", actor="bench")
    samples = [await grant_change(app, base + run) for run in range(runs)]
    last = base + runs - 1
    async with app.unit_of_work() as s:
        stale = await s.scalar(select(func.count()).where(
            BotFeatureFlag.feature_key == FEATURE, BotFeatureFlag.source == "plan",
            BotFeatureFlag.config["LIMIT"].as_integer() != last))
        right = await s.scalar(select(func.count()).where(BotFeatureFlag.feature_key == FEATURE))
        exceptions = await s.scalar(select(func.count()).select_from(BotFlagException))
    assert stale == 0 and right == tenants, f"{stale} of {right} tenants did not follow"
    legacy = [await legacy_change(app, plan_id, base + run) for run in range(runs)]

    gate = FeatureGate(other.sessions)
    async with app.unit_of_work() as s:
        watched = list((await s.scalars(select(BotFeatureFlag.bot_id).where(BotFeatureFlag.feature_key == FEATURE)
                                        .order_by(BotFeatureFlag.bot_id.desc()).limit(WATCHED))).all())
    for bot_id in watched:
        await gate.load(bot_id)
    watcher = FlagWatcher([gate], other.settings.database_url)
    watcher.start()
    try:
        await asyncio.wait_for(watcher.listening.wait(), 15)
        visible = [await seen_by_gate(app, gate, watched, base + 100 + run) for run in range(runs)]
    finally:
        await watcher.stop()
    n = 200_000
    lookups = [timeit.timeit(lambda: gate.is_enabled(watched[0], FEATURE), number=n) / n for _ in range(5)]
    ms = lambda values: round(statistics.median(values) * 1000, 1)  # noqa: E731
    return {
        "tenants": tenants,
        "overrides": OVERRIDES,
        "exception_rows": exceptions,
        "grant_change_median_ms": ms(samples),
        "grant_change_samples_ms": [round(v * 1000, 1) for v in samples],
        "previous_rewrite_every_row_median_ms": ms(legacy),
        "gate_sees_change_after_commit_median_ms": round(statistics.median(visible), 1),
        "gate_sees_change_after_commit_max_ms": round(max(visible), 1),
        "gate_is_enabled_median_ns": round(statistics.median(lookups) * 1e9, 1),
    }


async def main(sizes: list[int], runs: int) -> None:
    name = f"tenantctl_bench_{os.getpid()}"
    with psycopg.connect(libpq(SERVER), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        server = conn.execute("SHOW server_version").fetchone()[0]
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    where = f"{machine()}, PostgreSQL {server}"
    try:
        settings = Settings(database_url=url, secret_key="x" * 43 + "=")
        app = await App.open(settings, check_schema=False)
        await upgrade(app.engine)
        other = await App.open(settings)
        try:
            plan_id = await setup(app)
            for n, tenants in enumerate(sorted(sizes)):
                await add_tenants(app, plan_id, tenants)
                result = {"bench": "plan_sync", "features": FEATURES, "runs": runs,
                          **await measure(app, other, plan_id, tenants, runs, 1000 * (n + 1)),
                          "target_grant_change_ms": 50, "machine": where}
                print(json.dumps(result), flush=True)
                print(f"{tenants:>7} tenants: grant change median {result['grant_change_median_ms']} ms "
                      f"(target <= 50 ms; {result['exception_rows']} exception rows) | previous rewrite of every "
                      f"tenant's row {result['previous_rewrite_every_row_median_ms']} ms | another engine's gate sees "
                      f"it {result['gate_sees_change_after_commit_median_ms']} ms after the commit (max "
                      f"{result['gate_sees_change_after_commit_max_ms']}) | is_enabled {result['gate_is_enabled_median_ns']} ns "
                      f"| {where}", flush=True)
        finally:
            await other.close()
            await app.close()
    finally:
        with psycopg.connect(libpq(SERVER), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", default="1000,10000,100000", help="comma-separated sizes, e.g. 1000,10000,100000")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main([int(size) for size in args.tenants.split(",")], args.runs))
