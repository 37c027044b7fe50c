"""The tenant HTTP API (aiohttp): OFREP flag evaluation and the tenant's own data, for its API token only.

Middlewares, outermost first: project errors become HTTP statuses; the token is authenticated (and
rate-limited) in a short unit of work; each handler reads in a unit of work of its own. Tokens are
never logged: there is no access log, and errors name no token.

OFREP answers come from `FlagCache`, which a `flags.live.FlagWatcher` empties for the bots whose flags
change (LISTEN/NOTIFY on PostgreSQL, polling on SQLite); the watcher runs while the application does.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tenantctl.api.ofrep import evaluations
from tenantctl.api.openapi import OPENAPI
from tenantctl.core.app import App
from tenantctl.core.errors import Forbidden, Invalid, NotFound, TenantctlError, Unauthorized
from tenantctl.flags.live import FlagWatcher
from tenantctl.plans.effective import explain_bot_flags
from tenantctl.stats.platform import tenant_summary
from tenantctl.tenants.schemas import tenant_as_dict
from tenantctl.tenants.service import get_subscription
from tenantctl.tenants.tokens import authenticate

MAX_BODY = 16 * 1024  # bytes: an evaluation context is small
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
APP_KEY = web.AppKey("tenantctl", App)
LIMITER_KEY = web.AppKey("limiter", "RateLimiter")
CACHE_KEY = web.AppKey("flag_cache", "FlagCache")


@dataclass
class RateLimiter:
    """A token bucket per API token: `rate` requests a second on average, bursts up to `burst`."""

    rate: float = 50.0
    burst: float = 100.0
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # prefix -> (tokens, at)

    def wait(self, key: str, now: float | None = None) -> float:
        """0 if a request may go now (and take a token), else the seconds until one may."""
        now = time.monotonic() if now is None else now
        tokens, at = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self.buckets[key] = (tokens - 1, now)
        return 0.0


@dataclass(frozen=True)
class TenantFlags:
    """One tenant's OFREP answers: by key, and the bulk body with its ETag."""

    by_key: dict[str, dict[str, Any]]
    bulk: bytes
    etag: str


class FlagCache:
    """Each tenant's OFREP answers, read once and kept until the flag watcher says its flags changed."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._tenants: dict[int, TenantFlags] = {}
        self._generation = 0  # bumped by every refresh: an answer read across a change is not kept

    async def refresh(self, bot_ids: Iterable[int] | None = None) -> None:
        """Forget the answers of `bot_ids` (None: every tenant's)."""
        self._generation += 1
        if bot_ids is None:
            self._tenants.clear()
        for bot_id in bot_ids or ():
            self._tenants.pop(bot_id, None)

    async def get(self, bot_id: int) -> TenantFlags:
        """The tenant's answers, read from the database when not held."""
        held = self._tenants.get(bot_id)
        if held is not None:
            return held
        generation = self._generation
        async with self._app.unit_of_work() as session:
            subscription = await get_subscription(session, bot_id)
            rows = await explain_bot_flags(session, bot_id=bot_id)
        by_key = evaluations(rows, active=subscription is not None and subscription.status == "active")
        bulk = json.dumps({"flags": list(by_key.values())}, separators=(",", ":"), sort_keys=True).encode()
        etag = '"' + hashlib.sha256(f"{bot_id}:".encode() + bulk).hexdigest()[:32] + '"'
        flags = TenantFlags(by_key, bulk, etag)
        if generation == self._generation:
            self._tenants[bot_id] = flags
        return flags


def _token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-API-Key", "").strip()


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Project errors as statuses: 401 and 403 without a body, 404 and 400 with one line."""
    try:
        return await handler(request)
    except Unauthorized:
        return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
    except Forbidden:
        return web.Response(status=403)
    except NotFound as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except (Invalid, TenantctlError) as exc:
        return web.json_response({"error": str(exc)}, status=400)


@web.middleware
async def tenant_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every path but the OpenAPI document needs the tenant's API token; each token has its own rate limit."""
    if request.path == "/api/v1/openapi.json":
        return await handler(request)
    token = _token(request)
    if not token:
        raise Unauthorized("no API token")
    async with request.app[APP_KEY].unit_of_work() as session:
        row, bot = await authenticate(session, token=token)
    wait = request.app[LIMITER_KEY].wait(row.prefix)
    if wait:
        return web.Response(status=429, headers={"Retry-After": str(math.ceil(wait))})
    request["bot"] = bot
    return await handler(request)


async def _flags(request: web.Request) -> dict[str, dict[str, Any]]:
    return (await request.app[CACHE_KEY].get(request["bot"].id)).by_key


async def _context(request: web.Request, key: str | None = None) -> dict[str, Any] | web.Response:
    """The request's evaluation context, or the OFREP 400 answer."""
    def refused(code: str, details: str) -> web.Response:
        return web.json_response({**({"key": key} if key else {}), "errorCode": code, "errorDetails": details}, status=400)

    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return refused("PARSE_ERROR", "the body is not JSON")
    if not isinstance(body, dict):
        return refused("PARSE_ERROR", "the body is not a JSON object")
    context = body.get("context", {})
    if not isinstance(context, dict) or not isinstance(context.get("targetingKey", ""), str):
        return refused("INVALID_CONTEXT", "context must be an object, and its targetingKey a string")
    return context


async def evaluate_flag(request: web.Request) -> web.Response:
    """POST /ofrep/v1/evaluate/flags/{key}: one flag of the token's tenant."""
    key = request.match_info["key"]
    context = await _context(request, key)
    if isinstance(context, web.Response):
        return context
    found = (await _flags(request)).get(key)
    if found is None:
        return web.json_response({"key": key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": f"no flag {key!r}"}, status=404)
    return web.json_response(found)


async def evaluate_flags(request: web.Request) -> web.Response:
    """POST /ofrep/v1/evaluate/flags: every flag of the token's tenant, with an ETag of the tenant and its flags."""
    context = await _context(request)
    if isinstance(context, web.Response):
        return context
    flags = await request.app[CACHE_KEY].get(request["bot"].id)
    if flags.etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers={"ETag": flags.etag})
    return web.Response(body=flags.bulk, content_type="application/json", headers={"ETag": flags.etag})


async def tenant(request: web.Request) -> web.Response:
    """GET /api/v1/tenant: the tenant's status, plan and end date."""
    async with request.app[APP_KEY].unit_of_work() as session:
        summary = await tenant_summary(session, bot_id=request["bot"].id)
    return web.json_response(tenant_as_dict(summary.bot, summary.subscription, summary.plan))


async def features(request: web.Request) -> web.Response:
    """GET /api/v1/features: each feature's effective value and where it comes from (secret config keys left out)."""
    flags = await _flags(request)
    return web.json_response([{"key": key, "value": flag["value"], "source": flag["metadata"]["source"],
                               "category": flag["metadata"]["category"], "config": flags[key + ".config"]["value"]}
                              for key, flag in flags.items() if not key.endswith(".config")])


async def stats(request: web.Request) -> web.Response:
    """GET /api/v1/stats?period=30d: users, and income (kopeks) and traffic (bytes) over the last 30 days."""
    if request.query.get("period", "30d") != "30d":
        raise Invalid("period: only 30d is offered")
    async with request.app[APP_KEY].unit_of_work() as session:
        summary = await tenant_summary(session, bot_id=request["bot"].id)
    return web.json_response({"period": "30d", "users": summary.users, "income_kopeks": summary.income_30d_kopeks,
                              "traffic_bytes": summary.traffic_30d_bytes})


async def openapi(_request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json: this API, as an OpenAPI 3.1 document."""
    return web.json_response(OPENAPI)


def add_api_routes(webapp: web.Application, app: App, *, limiter: RateLimiter | None = None) -> None:
    """Mount the tenant API on an aiohttp application (`api serve`, or the bot's webhook listener).

    Its flag watcher starts and stops with `webapp`.
    """
    webapp[APP_KEY] = app
    webapp[LIMITER_KEY] = limiter or RateLimiter()
    webapp[CACHE_KEY] = FlagCache(app)

    async def watch_flags(_webapp: web.Application) -> AsyncIterator[None]:
        watcher = FlagWatcher([webapp[CACHE_KEY]], app.settings.database_url)
        watcher.start()
        yield
        await watcher.stop()

    webapp.cleanup_ctx.append(watch_flags)
    webapp.router.add_post("/ofrep/v1/evaluate/flags/{key}", evaluate_flag)
    webapp.router.add_post("/ofrep/v1/evaluate/flags", evaluate_flags)
    webapp.router.add_get("/api/v1/tenant", tenant)
    webapp.router.add_get("/api/v1/features", features)
    webapp.router.add_get("/api/v1/stats", stats)
    webapp.router.add_get("/api/v1/openapi.json", openapi)


def build_app(app: App, *, limiter: RateLimiter | None = None) -> web.Application:
    """The tenant API as its own aiohttp application."""
    webapp = web.Application(middlewares=[errors, tenant_auth], client_max_size=MAX_BODY)
    add_api_routes(webapp, app, limiter=limiter)
    return webapp
