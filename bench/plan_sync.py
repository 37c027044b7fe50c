"""Plan sync at scale on PostgreSQL, and the cached FeatureGate lookup.

With N tenants (default 10,000) on one plan, times the wall clock from a grant change until every
tenant's `bot_feature_flags` row reflects it (the grant edit and its recompute, committed), over
several runs. Target: <= 1 s. Also times `FeatureGate.is_enabled` on a loaded bot (target <= 1 µs).

Usage: python bench/plan_sync.py [--tenants N] [--runs R]
PostgreSQL comes from TENANTCTL_BENCH_DATABASE_URL (default: the local trust-auth server); a
throwaway database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import time
import timeit
from datetime import timedelta

import psycopg
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.core.migrate import upgrade
from tenantctl.core.settings import Settings
from tenantctl.flags.gate import FeatureGate
from tenantctl.flags.models import BotFeatureFlag, Feature
from tenantctl.plans.effective import recompute_flags
from tenantctl.plans.models import TenantSubscription
from tenantctl.plans.service import create_plan, set_grant
from tenantctl.tenants.models import Bot
from tenantctl.tenants.rules import bot_name_key

SERVER = os.environ.get("TENANTCTL_BENCH_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
FEATURES = 40


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def populate(app: App, tenants: int) -> int:
    async with app.unit_of_work() as s:
        s.add_all(Feature(key=f"feature_{i}", env_key=f"FEATURE_{i}_ENABLED", category="other", kind="switch",
                          default_config={"LIMIT": i, "OPTS": {"a": 1}}, config_keys=["LIMIT", "OPTS"]) for i in range(FEATURES))
        await s.flush()
        plan = await create_plan(s, name="growth", actor="bench", monthly_price_kopeks=1000000)
        rows = [{"name": f"t{i}", "name_key": bot_name_key(f"t{i}"), "token_encrypted": "x", "token_fingerprint": secrets.token_hex(32),
                 "status": "active"} for i in range(tenants)]
        await s.execute(insert(Bot), rows)
        ids = (await s.scalars(select(Bot.id))).all()
        end = utcnow() + timedelta(days=30)
        await s.execute(insert(TenantSubscription), [{"bot_id": b, "plan_tier_id": plan.id, "end_date": end} for b in ids])
        await recompute_flags(s)
        return ids[0]


async def grant_change(app: App, run: int) -> float:
    start = time.perf_counter()
    async with app.unit_of_work() as s:
        await set_grant(s, plan="growth", feature="feature_7", actor="bench", config={"LIMIT": 1000 + run})
    elapsed = time.perf_counter() - start
    async with app.unit_of_work() as s:
        stale = await s.scalar(select(func.count()).where(BotFeatureFlag.feature_key == "feature_7",
                                                          BotFeatureFlag.config["LIMIT"].as_integer() != 1000 + run))
    assert stale == 0, f"{stale} tenants did not follow"
    return elapsed


async def main(tenants: int, runs: int) -> None:
    name = f"tenantctl_bench_{os.getpid()}"
    with psycopg.connect(libpq(SERVER), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        app = await App.open(Settings(database_url=url, secret_key="x" * 43 + "="), check_schema=False)
        await upgrade(app.engine)
        bot_id = await populate(app, tenants)
        samples = [await grant_change(app, run) for run in range(runs)]
        gate = FeatureGate(app.sessions)
        await gate.load(bot_id)
        assert gate.is_enabled(bot_id, "feature_7") is True
        n = 1_000_000
        lookups = [timeit.timeit(lambda: gate.is_enabled(bot_id, "feature_7"), number=n) / n for _ in range(5)]
        await app.close()
    finally:
        with psycopg.connect(libpq(SERVER), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sync_ms = statistics.median(samples) * 1000
    lookup_ns = statistics.median(lookups) * 1e9
    result = {
        "bench": "plan_sync",
        "tenants": tenants,
        "features": FEATURES,
        "runs": runs,
        "grant_change_median_ms": round(sync_ms, 1),
        "grant_change_samples_ms": [round(s * 1000, 1) for s in samples],
        "gate_is_enabled_median_ns": round(lookup_ns, 1),
        "targets": {"grant_change_ms": 1000, "gate_is_enabled_ns": 1000},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL",
    }
    print(json.dumps(result))
    print(f"grant change -> {tenants} tenants' flags: median {sync_ms:.0f} ms over {runs} runs (target <= 1000 ms); "
          f"FeatureGate.is_enabled: median {lookup_ns:.0f} ns (target <= 1000 ns)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.tenants, args.runs))
