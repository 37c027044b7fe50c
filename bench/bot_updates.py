"""Updates per second through the real runner: DB-session middleware, feature gate, FSM storage on.

A tenant bot on the fake Bot API gets N `/start` updates from N users at once; the figure is
from injection to the N-th reply. SQLite in a throwaway file always; PostgreSQL too when
TENANTCTL_BENCH_DATABASE_URL is set (its tables are used as they are: point it at a scratch db).

    .venv/bin/python bench/bot_updates.py [N]
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from tenantctl.bot.runner import Runner
from tenantctl.core.app import App
from tenantctl.core.settings import Settings
from tenantctl.plans.service import create_plan
from tenantctl.tenants.master import register_master
from tenantctl.tenants.service import provision_tenant
from tenantctl.tenants.telegram import BotIdentity
from tenantctl.testing.fake_telegram import FakeTelegram


async def bench(database_url: str, count: int, workdir: Path) -> dict:
    async with FakeTelegram() as fake:
        settings = Settings(database_url=database_url, secret_key=Fernet.generate_key().decode(),
                            telegram_api_server=fake.base_url, key_file=str(workdir / "key"))
        app = await App.open(settings)
        master, tenant = fake.add_bot(username="master_bot"), fake.add_bot(username="bench_tenant_bot")
        env = workdir / "master.env"
        env.write_text(f"BOT_TOKEN={master.token}\n")
        suffix = os.urandom(3).hex()
        async with app.unit_of_work() as session:
            await register_master(session, token=master.token, env_path=str(env), box=app.secret_box, actor="bench",
                                  identity=BotIdentity(master.id, master.username, "Master"))
            await create_plan(session, name=f"bench{suffix}", monthly_price_kopeks=100_000, actor="bench", grants_all_features=True)
            await provision_tenant(session, name=f"Bench {suffix}", token=tenant.token, owner_telegram_id=1, plan=f"bench{suffix}",
                                   box=app.secret_box, actor="bench", identity=BotIdentity(tenant.id, tenant.username, "Bench"),
                                   language="en", support_username="@bench_support")
        runner = Runner(app, interval=5, poll_timeout=1)
        await runner.start()
        try:
            mark = tenant.mark()
            started = time.perf_counter()
            for user in range(10_000, 10_000 + count):
                tenant.send_message(user, "/start")
            while sum(1 for c in tenant.sent[mark:] if c.method == "sendMessage") < count:
                await tenant.wait_for("sendMessage", timeout=30)
            elapsed = time.perf_counter() - started
        finally:
            await runner.stop()
            await app.close()
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    return {"bench": "bot_updates", "backend": backend, "updates": count, "seconds": round(elapsed, 3),
            "updates_per_second": round(count / elapsed, 1), "platform": platform.platform(),
            "python": platform.python_version(), "cpus": os.cpu_count()}


async def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as tmp:
        urls = [f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"]
        if os.environ.get("TENANTCTL_BENCH_DATABASE_URL"):
            urls.append(os.environ["TENANTCTL_BENCH_DATABASE_URL"])
        for url in urls:
            result = await bench(url, count, Path(tmp))
            print(json.dumps(result))
            print(f"{result['backend']}: {result['updates_per_second']} updates/s ({count} /start updates in "
                  f"{result['seconds']} s) on {result['platform']}, {result['cpus']} CPUs, Python {result['python']}")


if __name__ == "__main__":
    asyncio.run(main())
