"""The tenant API's fixtures: two tenants (Alpha on starter, Beta on growth) and the API serving them over real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp import web
from sqlalchemy import event

from tenantctl.api.app import RateLimiter, build_app
from tenantctl.core.app import App
from tenantctl.flags.models import Feature
from tenantctl.tenants.service import provision_tenant
from tests.tenants.support import MASTER_TOKEN, NOW, add_features_and_plans, tenant_token, write_env

SUPPORT = {"key": "support_tickets", "env_key": "SUPPORT_SYSTEM_MODE", "category": "support", "kind": "mode",
           "allowed_values": ["off", "tickets", "contact", "both"], "default_enabled": True, "default_value": "tickets",
           "default_config": {"SUPPORT_USERNAME": "@help", "SUPPORT_API_TOKEN": ""}, "config_keys": ["SUPPORT_USERNAME"]}


@contextlib.contextmanager
def statements(app: App) -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(app.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", count)


@dataclass
class Api:
    app: App
    url: str
    tokens: dict[str, str]  # tenant name -> plaintext API token
    bot_ids: dict[str, int]
    webapp: web.Application

    async def call(self, method: str, path: str, token: str | None, **kwargs) -> tuple[int, Any, Any]:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        async with aiohttp.ClientSession() as http, http.request(method, self.url + path, headers=headers, **kwargs) as response:
            body = await response.read()
            parsed = await response.json() if body and response.content_type == "application/json" else None
            return response.status, response.headers.copy(), parsed  # headers: case-insensitive


@pytest_asyncio.fixture
async def api(app: App, tmp_path) -> AsyncIterator[Api]:
    from tenantctl.tenants.master import register_master

    tokens, bot_ids = {}, {}
    async with app.unit_of_work() as session:
        await add_features_and_plans(session)
        session.add(Feature(**SUPPORT))
        await session.flush()
        await register_master(session, token=MASTER_TOKEN, env_path=write_env(tmp_path), box=app.secret_box, actor="test")
        for n, (name, plan) in enumerate((("Alpha", "starter"), ("Beta", "growth")), start=1):
            result = await provision_tenant(session, name=name, token=tenant_token(n), owner_telegram_id=500 + n, plan=plan,
                                            box=app.secret_box, actor="test", identity=None, now=NOW)
            tokens[name], bot_ids[name] = result.api_token_plaintext, result.bot.id
    webapp = build_app(app, limiter=RateLimiter(rate=5, burst=20))
    runner = web.AppRunner(webapp, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Api(app, f"http://127.0.0.1:{port}", tokens, bot_ids, webapp)
    finally:
        await runner.cleanup()
