"""The tenant HTTP API (aiohttp): OFREP flag evaluation and the tenant's own data, for its API token only.

`add_api_routes` mounts it on any aiohttp application (`api serve`'s own, or `bot run --webhook`'s
listener): each route is wrapped (`TenantApi.guarded`), not the application, so the routes beside it
are left alone. The wrapper maps project errors to HTTP statuses, finds the token's tenant in
`auth.TokenCache` (the database only for a token not held) and applies the token's rate limit; the
handlers that read the database do it in a unit of work of their own. Tokens are never logged: there
is no access log, and errors name no token.

OFREP answers come from `FlagCache`, which holds each tenant's answers ready to send (bodies, bulk bodies
with their ETags and headers); concurrent requests for a tenant not held share one read. A
`flags.live.FlagWatcher` empties it, and the token cache, for the bots whose flags or tokens change
(LISTEN/NOTIFY on PostgreSQL, polling on SQLite); the watcher runs while the application does. The cache
also counts the evaluations it answers, and a `flags.usage.UsageFlusher` writes them every minute and
when the application stops.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from tenantctl.api.auth import RateLimiter, Throttled, TokenCache, token_key
from tenantctl.api.flights import Flights
from tenantctl.api.ofrep import CONFIG_SUFFIX, evaluations
from tenantctl.api.openapi import OPENAPI
from tenantctl.core.app import App
from tenantctl.core.errors import Forbidden, Invalid, NotFound, TenantctlError, Unauthorized
from tenantctl.flags.live import FlagWatcher
from tenantctl.flags.rollout import bucket
from tenantctl.flags.usage import Counts, UsageFlusher
from tenantctl.plans.effective import explain_bot_flags
from tenantctl.stats.platform import tenant_summary
from tenantctl.tenants.schemas import tenant_as_dict
from tenantctl.tenants.service import get_subscription

MAX_BODY = 16 * 1024  # bytes: an evaluation context is small
SMALL_BODY = 512  # bytes: the parse of a body up to this size is remembered (an SDK sends the same one at every poll)
CONTEXTS_HELD = 4096  # small bodies' parses remembered, the least recently used forgotten first
BULKS_HELD = 256  # a tenant's bulk answers kept for end users under its user-sticky rollouts (one per set of splits)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


JSON = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Bulk:
    """A bulk answer as sent (its body, its ETag scoped to the tenant, the headers of a 200 and of a 304, built once),
    the usage result of each feature it answers, and how many times it was given since last counted."""

    body: bytes
    etag: str
    results: dict[str, str]
    hits: int = 0
    headers: CIMultiDictProxy[str] = field(init=False)
    not_modified: CIMultiDictProxy[str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json", "ETag": self.etag}))
        self.not_modified = CIMultiDictProxy(CIMultiDict({"ETag": self.etag}))


def _bulk(answers: list[tuple[str, dict[str, Any], str | None]], bot_id: int) -> Bulk:
    """The bulk answer of (OFREP key, body, usage result or None) answers."""
    body = json.dumps({"flags": [answer for _, answer, _ in answers]}, separators=(",", ":"), sort_keys=True).encode()
    etag = '"' + hashlib.sha256(f"{bot_id}:".encode() + body).hexdigest()[:32] + '"'
    return Bulk(body, etag, {key: result for key, _, result in answers if result is not None})


@dataclass
class TenantFlags:
    """One tenant's OFREP answers: by key, the usage result of each feature's value, the answers by bucket of the keys
    under a user-sticky rollout, and the bulk answers: the one for an end user in no rollout, and those for the end
    users under a rollout, by the split each rollout gives them (at most BULKS_HELD kept)."""

    bot_id: int
    by_key: dict[str, dict[str, Any]]
    results: dict[str, str]
    splits: dict[str, tuple[str, list[tuple[int, dict[str, Any], str | None]]]]
    bulk: Bulk = field(init=False)
    by_choice: dict[tuple[int, ...], Bulk] = field(init=False, default_factory=dict)
    rollouts: list[tuple[str, list[int]]] = field(init=False)  # each user-sticky rollout's feature and its splits' upto
    encoded: dict[str, bytes] = field(init=False)  # each OFREP key's body, as sent, built once

    def __post_init__(self) -> None:
        self.bulk = _bulk([(key, body, self.results.get(key)) for key, body in self.by_key.items()], self.bot_id)
        self.rollouts = list({feature: [upto for upto, _, _ in by_bucket] for feature, by_bucket in self.splits.values()}.items())
        self.encoded = {key: _json(body) for key, body in self.by_key.items()}

    def answer(self, key: str, targeting_key: str | None) -> tuple[dict[str, Any], str | None] | None:
        """The body for `key` and what it counts as (None for a `.config`); None when there is no such flag."""
        found = self.by_key.get(key)
        if found is None:
            return None
        split = self.splits.get(key) if targeting_key is not None else None
        if split is not None:
            sticky = bucket(split[0], targeting_key)
            for upto, body, result in split[1]:
                if sticky <= upto:
                    return body, result
        return found, self.results.get(key)

    def bulk_for(self, targeting_key: str | None) -> tuple[Bulk, bool]:
        """The bulk answer for the end user `targeting_key` (None: none given), and whether it is kept (counted when
        folded) or was built for this request alone (BULKS_HELD reached)."""
        if targeting_key is None or not self.rollouts:
            return self.bulk, True
        choice = tuple(next((n for n, upto in enumerate(uptos) if sticky <= upto), len(uptos))
                       for feature, uptos in self.rollouts for sticky in (bucket(feature, targeting_key),))
        found = self.by_choice.get(choice)
        if found is not None:
            return found, True
        found = _bulk([(key, *self.answer(key, targeting_key)) for key in self.by_key], self.bot_id)
        if len(self.by_choice) >= BULKS_HELD:
            return found, False
        self.by_choice[choice] = found
        return found, True

    def bulks(self) -> list[Bulk]:
        """Every bulk answer kept."""
        return [self.bulk, *self.by_choice.values()]


class FlagCache:
    """Each tenant's OFREP answers, read once and kept until the flag watcher says its flags changed; it counts them."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._tenants: dict[int, TenantFlags] = {}
        self._generation = 0  # bumped by every refresh: an answer read across a change is not kept
        self._counts: Counts = {}
        self._loads: Flights[int, TenantFlags] = Flights("ofrep-flags-load")

    async def refresh(self, bot_ids: Iterable[int] | None = None) -> None:
        """Forget the answers of `bot_ids` (None: every tenant's)."""
        self._generation += 1
        for bot_id in list(self._tenants) if bot_ids is None else bot_ids:
            held = self._tenants.pop(bot_id, None)
            if held is not None:
                self._fold(bot_id, held)

    def count(self, bot_id: int, key: str, result: str) -> None:
        """Count one evaluation of a feature."""
        counted = (bot_id, key, result)
        self._counts[counted] = self._counts.get(counted, 0) + 1

    def fold(self, bot_id: int, bulk: Bulk) -> None:
        """Count the times `bulk` was given: one evaluation of each feature it answers each."""
        if bulk.hits:
            for key, result in bulk.results.items():
                counted = (bot_id, key, result)
                self._counts[counted] = self._counts.get(counted, 0) + bulk.hits
            bulk.hits = 0

    def _fold(self, bot_id: int, flags: TenantFlags) -> None:
        """Count the bulk answers given from `flags`."""
        for bulk in flags.bulks():
            self.fold(bot_id, bulk)

    def take_usage(self) -> Counts:
        """The evaluations answered since the last call, by (bot, feature, result)."""
        for bot_id, flags in self._tenants.items():
            self._fold(bot_id, flags)
        counts, self._counts = self._counts, {}
        return counts

    def held(self, bot_id: int) -> TenantFlags | None:
        """The tenant's answers if they are held (the hot path: no await)."""
        return self._tenants.get(bot_id)

    async def get(self, bot_id: int) -> TenantFlags:
        """The tenant's answers, read from the database when not held; requests for a tenant not held share one read
        (its error reaches each of them, and nothing is kept)."""
        held = self._tenants.get(bot_id)
        if held is not None:
            return held
        loading = self._loads.join(bot_id, self._generation)
        if loading is None:
            generation = self._generation
            loading = self._loads.start(bot_id, generation, lambda: self._load(bot_id, generation))
        return await asyncio.shield(loading)

    async def close(self) -> None:
        """Stop the reads still running."""
        await self._loads.close()

    async def _load(self, bot_id: int, generation: int) -> TenantFlags:
        """Read the tenant's answers; keep them unless a refresh came since `generation`."""
        async with self._app.unit_of_work() as session:
            subscription = await get_subscription(session, bot_id)
            rows = await explain_bot_flags(session, bot_id=bot_id)
        found = evaluations(rows, active=subscription is not None and subscription.status == "active")
        flags = TenantFlags(bot_id, found.by_key, found.results, found.splits)
        if generation == self._generation:
            self._tenants[bot_id] = flags
        return flags


@functools.lru_cache(maxsize=CONTEXTS_HELD)
def _parse_context(raw: bytes) -> tuple[str | None, str | None, str]:
    """A request body's targetingKey (None: none given), or its OFREP error: (targeting key, error code, details)."""
    try:
        body = json.loads(raw.decode()) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return None, "PARSE_ERROR", "the body is not JSON"
    if not isinstance(body, dict):
        return None, "PARSE_ERROR", "the body is not a JSON object"
    context = body.get("context", {})
    if not isinstance(context, dict) or not isinstance(context.get("targetingKey", ""), str):
        return None, "INVALID_CONTEXT", "context must be an object, and its targetingKey a string"
    return context.get("targetingKey"), None, ""


def _targeting_key(raw: bytes, key: str | None) -> str | None | web.Response:
    """The targetingKey of the evaluation context in a request's body (None: none given), or the OFREP 400 answer for
    the flag `key` (None: the bulk request). A body over MAX_BODY bytes gets 413; a small body's parse is remembered."""
    if len(raw) > SMALL_BODY:
        if len(raw) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(MAX_BODY, len(raw))
        targeting_key, error, details = _parse_context.__wrapped__(raw)
    else:
        targeting_key, error, details = _parse_context(raw)
    if error is None:
        return targeting_key
    return web.json_response({**({"key": key} if key else {}), "errorCode": error, "errorDetails": details}, status=400)


async def _arriving_body(request: web.Request) -> bytes:
    """A body not all there yet: at most MAX_BODY bytes (413 beyond), whatever the application's client_max_size."""
    if (request.content_length or 0) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY, request.content_length)
    return await request.read()


async def openapi(_request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json: this API, as an OpenAPI 3.1 document."""
    return web.json_response(OPENAPI)


class TenantApi:
    """The API's handlers, bound to one aiohttp application's flag cache, token cache and rate limit.

    Each handler takes the request and the id of its token's tenant. The OFREP path is kept short, in calls as well as
    in work: every poll of every tenant's OpenFeature SDKs runs it.
    """

    def __init__(self, app: App, *, limiter: RateLimiter | None = None, misses: RateLimiter | None = None) -> None:
        self.app = app
        self.limiter = limiter or RateLimiter()  # each token's requests
        self.cache = FlagCache(app)
        self.tokens = TokenCache(app, misses=misses)  # `misses`: each client address's checks of tokens never seen

    def guarded(self, handler: Callable[[web.Request, int], Awaitable[web.StreamResponse]]) -> Handler:
        """`handler` behind the token check and the token's rate limit, with project errors as statuses: 401 and 403
        without a body, 429 with Retry-After, 404 and 400 with one line."""
        tokens, limiter = self.tokens, self.limiter

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                headers = request.headers
                token = headers.get("Authorization", "")
                token = token[7:].strip() if token[:7].lower() == "bearer " else headers.get("X-API-Key", "").strip()
                if not token:
                    raise Unauthorized("no API token")
                digest, now = token_key(token), time.monotonic()
                bot_id = tokens.held(digest, token, now)
                if bot_id is None:
                    bot_id = await tokens.check(digest, token, request.remote or "")
                wait = limiter.wait(digest, now)
                if wait:
                    raise Throttled(wait)
                return await handler(request, bot_id)
            except Unauthorized:
                return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
            except Forbidden:
                return web.Response(status=403)
            except Throttled as exc:
                return web.Response(status=429, headers={"Retry-After": str(math.ceil(exc.wait))})
            except NotFound as exc:
                return web.json_response({"error": str(exc)}, status=404)
            except (Invalid, TenantctlError) as exc:
                return web.json_response({"error": str(exc)}, status=400)

        return guarded

    async def evaluate(self, request: web.Request, bot_id: int) -> web.Response:
        """POST /ofrep/v1/evaluate/flags/{key}: one flag of the token's tenant. POST /ofrep/v1/evaluate/flags: all of
        them, with an ETag of the tenant and its flags (If-None-Match: 304)."""
        key = request.match_info.get("key")
        content = request.content  # a small body is all there already (at most the read buffer): no waiting for it
        targeting_key = _targeting_key(content.read_nowait() if content.is_eof() else await _arriving_body(request), key)
        if isinstance(targeting_key, web.Response):
            return targeting_key
        cache = self.cache
        flags = cache.held(bot_id) or await cache.get(bot_id)
        if key is None:
            bulk, kept = flags.bulk_for(targeting_key)
            bulk.hits += 1
            if not kept:
                cache.fold(bot_id, bulk)
            wanted = request.headers.get("If-None-Match")
            if wanted is not None and (wanted == bulk.etag or bulk.etag in [tag.strip() for tag in wanted.split(",")]):
                return web.Response(status=304, headers=bulk.not_modified)
            return web.Response(body=bulk.body, headers=bulk.headers)
        found = flags.answer(key, targeting_key)
        if found is None:
            return web.json_response({"key": key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": f"no flag {key!r}"}, status=404)
        body, result = found
        if result is not None:
            cache.count(bot_id, key, result)
        return web.Response(body=flags.encoded[key] if body is flags.by_key[key] else _json(body), headers=JSON)

    async def tenant(self, _request: web.Request, bot_id: int) -> web.Response:
        """GET /api/v1/tenant: the tenant's status, plan and end date."""
        async with self.app.unit_of_work() as session:
            summary = await tenant_summary(session, bot_id=bot_id)
        return web.json_response(tenant_as_dict(summary.bot, summary.subscription, summary.plan))

    async def features(self, _request: web.Request, bot_id: int) -> web.Response:
        """GET /api/v1/features: each feature's effective value and where it comes from (secret config keys left out)."""
        flags = (await self.cache.get(bot_id)).by_key
        return web.json_response([{"key": key, "value": flag["value"], "source": flag["metadata"]["source"],
                                   "category": flag["metadata"]["category"], "config": flags[key + CONFIG_SUFFIX]["value"]}
                                  for key, flag in flags.items() if not key.endswith(CONFIG_SUFFIX)])

    async def stats(self, request: web.Request, bot_id: int) -> web.Response:
        """GET /api/v1/stats?period=30d: users, and income (kopeks) and traffic (bytes) over the last 30 days."""
        if request.query.get("period", "30d") != "30d":
            raise Invalid("period: only 30d is offered")
        async with self.app.unit_of_work() as session:
            summary = await tenant_summary(session, bot_id=bot_id)
        return web.json_response({"period": "30d", "users": summary.users, "income_kopeks": summary.income_30d_kopeks,
                                  "traffic_bytes": summary.traffic_30d_bytes})

    async def watch_flags(self, _webapp: web.Application) -> AsyncIterator[None]:
        """While the application runs: the flag watcher, which empties both caches for the bots whose flags change."""
        watcher = FlagWatcher([self.tokens, self.cache], self.app.settings.database_url)
        watcher.start()
        yield
        await watcher.stop()
        await self.tokens.close()
        await self.cache.close()

    async def flush_usage(self, _webapp: web.Application) -> AsyncIterator[None]:
        """While the application runs: the usage flusher, which writes the evaluations counted every minute and at stop."""
        flusher = UsageFlusher([self.cache], self.app.unit_of_work)
        flusher.start()
        yield
        await flusher.stop()


API_KEY = web.AppKey("tenant_api", TenantApi)


def add_api_routes(webapp: web.Application, app: App, *, limiter: RateLimiter | None = None,
                   misses: RateLimiter | None = None) -> None:
    """Mount the tenant API on an aiohttp application (`api serve`, or the bot's webhook listener).

    `limiter` limits each token's requests; `misses` each client address's checks of tokens never seen accepted.
    The flag watcher, the usage flusher and the token checks start and stop with `webapp`, which must therefore
    be run through an `AppRunner` (its setup starts them, its cleanup stops them).
    """
    api = webapp[API_KEY] = TenantApi(app, limiter=limiter, misses=misses)
    webapp.cleanup_ctx.append(api.watch_flags)
    webapp.cleanup_ctx.append(api.flush_usage)
    webapp.router.add_post("/ofrep/v1/evaluate/flags", api.guarded(api.evaluate))
    webapp.router.add_post("/ofrep/v1/evaluate/flags/{key}", api.guarded(api.evaluate))
    webapp.router.add_get("/api/v1/tenant", api.guarded(api.tenant))
    webapp.router.add_get("/api/v1/features", api.guarded(api.features))
    webapp.router.add_get("/api/v1/stats", api.guarded(api.stats))
    webapp.router.add_get("/api/v1/openapi.json", openapi)


def build_app(app: App, *, limiter: RateLimiter | None = None, misses: RateLimiter | None = None) -> web.Application:
    """The tenant API as its own aiohttp application."""
    webapp = web.Application(client_max_size=MAX_BODY)
    add_api_routes(webapp, app, limiter=limiter, misses=misses)
    return webapp
