"""Helpers shared by the tenant and billing tests: a small master .env, features, plans, a master."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.flags.models import Feature
from tenantctl.models import metadata
from tenantctl.plans.service import seed_plans
from tenantctl.tenants.master import register_master

NOW = datetime(2025, 1, 31, 12, 0, tzinfo=timezone.utc)
MASTER_TOKEN = "1111111111:MASTERtokenMASTERtokenMASTERtoken00"
MASTER_SECRETS = {
    "REMNAWAVE_API_KEY": "rw-api-key-value-5f1c",
    "REMNAWAVE_PASSWORD": "rw-password-value-77a2",
    "YOOKASSA_SECRET_KEY": "yk-secret-value-9b3e",
    "CRYPTOBOT_API_TOKEN": "cb-token-value-0d4f",
    "DATABASE_URL": "postgresql://app:db-password-value-31c8@db/vpn",
}
MASTER_ENV = f"""\
# ===== TELEGRAM =====
BOT_TOKEN={MASTER_TOKEN}
ADMIN_IDS=1000,1001
SUPPORT_USERNAME=@master_support
DEFAULT_LANGUAGE=ru
REMNAWAVE_API_URL=https://panel.example.com
REMNAWAVE_API_KEY={MASTER_SECRETS["REMNAWAVE_API_KEY"]}
REMNAWAVE_PASSWORD={MASTER_SECRETS["REMNAWAVE_PASSWORD"]}
DATABASE_URL={MASTER_SECRETS["DATABASE_URL"]}
MASTER_ADMIN_IDS=1000
YOOKASSA_ENABLED=true
YOOKASSA_SHOP_ID=123456
YOOKASSA_SECRET_KEY={MASTER_SECRETS["YOOKASSA_SECRET_KEY"]}
CRYPTOBOT_ENABLED=false
CRYPTOBOT_API_TOKEN={MASTER_SECRETS["CRYPTOBOT_API_TOKEN"]}
CARD_TO_CARD_ENABLED=true
TRIAL_DURATION_DAYS=3  # days
"""

FEATURES = [
    {"key": "card_to_card", "env_key": "CARD_TO_CARD_ENABLED", "category": "payment_methods", "kind": "switch"},
    {"key": "yookassa", "env_key": "YOOKASSA_ENABLED", "category": "payment_gateways", "kind": "switch"},
    {"key": "trial_subscription", "env_key": "TRIAL_PAYMENT_ENABLED", "category": "subscription_features", "kind": "switch"},
]
PLANS = [
    {"name": "starter", "display_name": "Starter", "monthly_price_kopeks": 500000, "activation_fee_kopeks": 100000,
     "features": {"card_to_card": True, "trial_subscription": True}},
    {"name": "growth", "display_name": "Growth", "monthly_price_kopeks": 1000000, "activation_fee_kopeks": 200000,
     "features": {"card_to_card": True, "yookassa": True, "trial_subscription": True}},
    {"name": "legacy", "display_name": "Legacy", "monthly_price_kopeks": 100, "is_active": False},
]


def tenant_token(n: int) -> str:
    """A well-formed, unique fake bot token."""
    return f"{2000000000 + n}:TENANTtoken{n:04d}xxxxxxxxxxxxxxxxxxxxxx"


def write_env(directory: Path, text: str = MASTER_ENV, name: str = "master.env") -> str:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


async def add_features_and_plans(session: AsyncSession) -> None:
    """Three catalogue features and the starter / growth / (archived) legacy plans."""
    session.add_all(Feature(**feature) for feature in FEATURES)
    await session.flush()
    await seed_plans(session, plans=[dict(p) for p in PLANS], actor="test")


async def setup_platform(session: AsyncSession, box, env_path: str, token: str = MASTER_TOKEN):
    """Features, plans and a registered master (offline)."""
    await add_features_and_plans(session)
    return await register_master(session, token=token, env_path=env_path, box=box, actor="test")


async def count_rows(session: AsyncSession) -> dict[str, int]:
    """Row count of every table."""
    return {t.name: await session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}


async def dump_database(session: AsyncSession) -> str:
    """Every row of every table as text."""
    lines = []
    for table in metadata.sorted_tables:
        for row in (await session.execute(select(table))).all():
            lines.append(f"{table.name}: {row!s}")
    return "\n".join(lines)


def find_fixture_env_dir() -> Path | None:
    """The shared `.env` fixtures: TENANTCTL_FIXTURES_DIR, else `shared/fixtures/env` above the repo."""
    configured = os.environ.get("TENANTCTL_FIXTURES_DIR")
    if configured:
        path = Path(configured)
        return path / "env" if (path / "env").is_dir() else path if path.is_dir() else None
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "fixtures" / "env"
        if candidate.is_dir():
            return candidate
    return None


@contextmanager
def fake_bot_api(bots: dict[str, dict[str, Any]], delay: float = 0) -> Iterator[str]:
    """A tiny Bot API on 127.0.0.1 in its own thread: getMe answers for `bots` (token -> user), 401 otherwise."""
    import asyncio

    from aiohttp import web

    async def get_me(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        user = bots.get(request.match_info["token"])
        if user is None:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        return web.json_response({"ok": True, "result": {"is_bot": True, **user}})

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        application = web.Application()
        application.router.add_route("*", "/bot{token}/getMe", get_me)
        runner = web.AppRunner(application)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["runner"] = runner
        state["port"] = site._server.sockets[0].getsockname()[1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{state['port']}"
    finally:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
