"""Flag freshness: from a grant change's commit to the change being visible in another process's FeatureGate.

The parent process flips a plan grant 100 times (one commit each); a child process holds a FeatureGate
kept fresh by `flags.live.FlagWatcher` and prints the wall-clock time at which it sees each flip. Prints
the median and p99 latency. Target: within 200 ms on PostgreSQL (LISTEN/NOTIFY), 2 s on SQLite (polling).

Usage: python bench/flag_freshness.py [--database postgresql|sqlite] [--changes 100]
PostgreSQL comes from TENANTCTL_BENCH_DATABASE_URL (default: the local trust-auth server); a throwaway
database is created and dropped. SQLite uses a temporary file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.core.migrate import upgrade
from tenantctl.core.settings import Settings
from tenantctl.flags.gate import FeatureGate
from tenantctl.flags.live import FlagWatcher, libpq_url
from tenantctl.flags.models import Feature
from tenantctl.plans.effective import recompute_flags
from tenantctl.plans.models import TenantSubscription
from tenantctl.plans.service import create_plan, set_grant
from tenantctl.tenants.models import Bot
from tenantctl.tenants.rules import bot_name_key

SERVER = os.environ.get("TENANTCTL_BENCH_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
KEY = "x" * 43 + "="
FEATURE = "feature_0"


def settings(url: str, home: str) -> Settings:
    return Settings(database_url=url, secret_key=KEY, key_file=str(Path(home) / "secret.key"))


async def populate(app: App, tenants: int = 10) -> int:
    async with app.unit_of_work() as s:
        s.add(Feature(key=FEATURE, env_key="FEATURE_0_ENABLED", category="other", kind="switch"))
        await s.flush()
        plan = await create_plan(s, name="growth", actor="bench", monthly_price_kopeks=1000000)
        await s.execute(insert(Bot), [{"name": f"t{i}", "name_key": bot_name_key(f"t{i}"), "token_encrypted": "x",
                                       "token_fingerprint": secrets.token_hex(32), "status": "active"} for i in range(tenants)])
        ids = (await s.scalars(select(Bot.id))).all()
        end = utcnow() + timedelta(days=30)
        await s.execute(insert(TenantSubscription), [{"bot_id": b, "plan_tier_id": plan.id, "end_date": end} for b in ids])
        await recompute_flags(s)
        return ids[0]


async def watch(url: str, home: str, bot_id: int) -> None:
    """The child: print "ready", then the wall-clock time of every flip of the flag it sees."""
    app = await App.open(settings(url, home))
    gate = FeatureGate(app.sessions)
    await gate.load(bot_id)
    watcher = FlagWatcher([gate], url, poll_interval=1.0)
    watcher.start()
    if url.startswith("postgresql"):
        await watcher.listening.wait()
    seen = gate.is_enabled(bot_id, FEATURE)
    print("ready", flush=True)
    while True:
        await asyncio.sleep(0.0005)
        if gate.is_enabled(bot_id, FEATURE) != seen:
            seen = not seen
            print(time.time(), flush=True)


async def measure(url: str, home: str, changes: int) -> list[float]:
    app = await App.open(settings(url, home), check_schema=False)
    await upgrade(app.engine)
    bot_id = await populate(app)
    child = await asyncio.create_subprocess_exec(sys.executable, __file__, "--watch", url, home, str(bot_id),
                                                 stdout=asyncio.subprocess.PIPE)
    try:
        assert (await child.stdout.readline()).strip() == b"ready"
        latencies = []
        for n in range(changes):
            async with app.sessions() as s:
                await set_grant(s, plan="growth", feature=FEATURE, actor="bench", enabled=n % 2 == 0)
                committed = time.time()
                await s.commit()
            seen = float(await asyncio.wait_for(child.stdout.readline(), 30))
            latencies.append(seen - committed)
        return latencies
    finally:
        child.kill()
        await child.wait()
        await app.close()


async def main(database: str, changes: int) -> None:
    import psycopg

    with tempfile.TemporaryDirectory() as home:
        if database == "sqlite":
            latencies = await measure(f"sqlite+aiosqlite:///{home}/bench.db", home, changes)
        else:
            name = f"tenantctl_fresh_{os.getpid()}"
            with psycopg.connect(libpq_url(SERVER), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                latencies = await measure(make_url(SERVER).set(database=name).render_as_string(hide_password=False), home, changes)
            finally:
                with psycopg.connect(libpq_url(SERVER), autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ms = sorted(x * 1000 for x in latencies)
    median, p99 = statistics.median(ms), ms[min(len(ms) - 1, round(0.99 * len(ms)) - 1)]
    target = 200 if database == "postgresql" else 2000
    print(json.dumps({"bench": "flag_freshness", "database": database, "changes": changes, "median_ms": round(median, 2),
                      "p99_ms": round(p99, 2), "max_ms": round(ms[-1], 2), "target_ms": target,
                      "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}))
    print(f"flag change -> another process's FeatureGate on {database}: median {median:.1f} ms, p99 {p99:.1f} ms "
          f"over {changes} changes (target <= {target} ms)")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--watch":
        asyncio.run(watch(sys.argv[2], sys.argv[3], int(sys.argv[4])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.database, args.changes))
