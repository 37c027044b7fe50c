"""API tokens held in memory: no query for a held token, forgotten at a revocation or a status change (NOTIFY on
PostgreSQL, polling on SQLite), refusals remembered, unseen tokens limited per client address; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select

from tenantctl.api.auth import RateLimiter, Throttled, TokenCache, token_key
from tenantctl.billing.lifecycle import cancel_tenant, expire_subscriptions, resume_tenant, suspend_tenant
from tenantctl.core.app import App
from tenantctl.core.errors import Forbidden, Unauthorized
from tenantctl.flags.live import CHANNEL, libpq_url, parse_payload
from tenantctl.tenants.models import ApiToken
from tenantctl.tenants.tokens import revoke_api_token
from tests.api.conftest import Api, statements
from tests.tenants.support import NOW


async def tenant(cache: TokenCache, token: str, client: str = "client") -> int:
    """What the API does with a request's token: the held answer, else a check."""
    digest = token_key(token)
    held = cache.held(digest, token, time.monotonic())
    return held if held is not None else await cache.check(digest, token, client)


async def revoke(api: Api, name: str) -> None:
    async with api.app.unit_of_work() as session:
        prefix = await session.scalar(select(ApiToken.prefix).where(ApiToken.bot_id == api.bot_ids[name]))
        await revoke_api_token(session, bot_id=api.bot_ids[name], prefix=prefix, actor="test")


async def test_a_checked_token_is_answered_from_memory_until_its_tenant_is_refreshed(api: Api) -> None:
    cache = TokenCache(api.app, recheck=3600)
    token, alpha = api.tokens["Alpha"], api.bot_ids["Alpha"]
    with statements(api.app) as first:
        assert await tenant(cache, token) == alpha
    assert first  # an unseen token is checked in the database
    with statements(api.app) as held:
        for _ in range(100):
            assert await tenant(cache, token) == alpha
        await cache.refresh([api.bot_ids["Beta"]])  # another tenant's change
        assert await tenant(cache, token) == alpha
    assert held == []
    assert token not in repr(vars(cache))  # held by digest, never the plaintext

    await cache.refresh([alpha])
    with statements(api.app) as again:
        results = await asyncio.gather(*(tenant(cache, token) for _ in range(20)))
    assert results == [alpha] * 20
    assert len([s for s in again if "FROM api_tokens" in s]) == 1  # concurrent requests share one check


async def test_refused_tokens_are_remembered_and_unseen_ones_limited_per_client(api: Api) -> None:
    cache = TokenCache(api.app, recheck=3600, misses=RateLimiter(rate=0.5, burst=3))
    alpha, beta = api.tokens["Alpha"], api.tokens["Beta"]
    assert await tenant(cache, alpha, "a") == api.bot_ids["Alpha"]
    assert await tenant(cache, beta, "a") == api.bot_ids["Beta"]
    await revoke(api, "Alpha")
    await cache.refresh([api.bot_ids["Alpha"]])  # what the flag watcher does on the revocation's NOTIFY (or a poll)
    with pytest.raises(Unauthorized):
        await tenant(cache, alpha, "a")
    with statements(api.app) as repeated, pytest.raises(Unauthorized):
        await tenant(cache, alpha, "a")
    assert repeated == []  # a refused token is refused from memory: it never becomes valid again

    made_up = [f"tc_0000000{n}_made-up" for n in range(3)]
    with pytest.raises(Unauthorized):  # client "a"'s third unseen token (after Alpha's and Beta's)
        await tenant(cache, made_up[0], "a")
    with pytest.raises(Throttled) as throttled:
        await tenant(cache, made_up[1], "a")
    assert throttled.value.wait > 0
    with pytest.raises(Unauthorized):  # another client has its own bucket
        await tenant(cache, made_up[2], "b")

    async with api.app.unit_of_work() as session:
        await suspend_tenant(session, bot_id=api.bot_ids["Beta"], actor="test")
    await cache.refresh([api.bot_ids["Beta"]])
    with pytest.raises(Forbidden):  # a token seen before is checked again even though client "a" is out of checks
        await tenant(cache, beta, "a")
    with statements(api.app) as repeated, pytest.raises(Forbidden):
        await tenant(cache, beta, "a")
    assert repeated == []
    async with api.app.unit_of_work() as session:
        await resume_tenant(session, bot_id=api.bot_ids["Beta"], actor="test", now=NOW)
    await cache.refresh([api.bot_ids["Beta"]])
    assert await tenant(cache, beta, "a") == api.bot_ids["Beta"]


async def test_a_held_token_is_checked_again_in_the_background(api: Api) -> None:
    cache = TokenCache(api.app, recheck=0.0)
    token = api.tokens["Alpha"]
    assert await tenant(cache, token) == api.bot_ids["Alpha"]
    await revoke(api, "Alpha")  # and no refresh: a NOTIFY that never came, or SQLite between two polls
    refused = False
    for _ in range(50):
        try:
            await tenant(cache, token)
        except Unauthorized:
            refused = True
            break
        await asyncio.sleep(0.05)
    assert refused
    await cache.close()


async def test_held_tokens_follow_the_tenants_lifecycle_over_http(api: Api) -> None:
    alpha, bot_id = api.tokens["Alpha"], api.bot_ids["Alpha"]

    async def becomes(status: int, path: str = "/api/v1/tenant") -> dict | None:
        for _ in range(25):  # the flag watcher's NOTIFY, its poll on SQLite, or the token's background check
            got, _, body = await api.call("GET", path, alpha)
            if got == status:
                return body
            await asyncio.sleep(0.2)  # under the test's rate limit of 5 a second
        raise AssertionError(f"{path}: {got}, not {status}")

    async def change(service: Callable[..., Awaitable[object]], **kwargs: object) -> None:
        async with api.app.unit_of_work() as session:
            await service(session, actor="test", **kwargs)

    assert (await becomes(200))["status"] == "active"  # held from now on
    await change(suspend_tenant, bot_id=bot_id)
    assert await becomes(403) is None
    await change(resume_tenant, bot_id=bot_id, now=NOW)
    await becomes(200)
    await change(cancel_tenant, bot_id=bot_id)
    assert await becomes(403) is None
    await change(resume_tenant, bot_id=bot_id, now=NOW)
    await becomes(200)
    await change(expire_subscriptions, now=NOW.replace(year=2099), grace_days=0)
    assert (await becomes(200))["status"] == "expired"  # let in, every flag off
    features = await becomes(200, "/api/v1/features")
    assert features and not any(feature["value"] is True for feature in features)
    await revoke(api, "Alpha")
    assert await becomes(401) is None


async def _notified(app: App, change: Callable[[], Awaitable[object]]) -> list[int] | None:
    """The bot ids named by the NOTIFY that `change`'s commit sends (None: all bots); AssertionError if none comes."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(libpq_url(app.settings.database_url), autocommit=True) as listener:
        await listener.execute(f"LISTEN {CHANNEL}")
        await change()
        async for notice in listener.notifies(timeout=2.0):
            return parse_payload(notice.payload)
    raise AssertionError("no NOTIFY")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has no NOTIFY: its watcher polls
async def test_revocation_cancellation_resumption_and_expiry_notify_at_commit(api: Api) -> None:
    bot_id = api.bot_ids["Alpha"]

    def run(service: Callable[..., Awaitable[object]], **kwargs: object) -> Callable[[], Awaitable[object]]:
        async def change() -> None:
            async with api.app.unit_of_work() as session:
                await service(session, actor="test", **kwargs)
        return change

    for change in (run(cancel_tenant, bot_id=bot_id), run(resume_tenant, bot_id=bot_id, now=NOW),
                   run(expire_subscriptions, now=NOW.replace(year=2099), grace_days=0)):
        named = await _notified(api.app, change)
        assert named is None or bot_id in named
    assert await _notified(api.app, lambda: revoke(api, "Alpha")) == [bot_id]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has no NOTIFY: its watcher polls
async def test_a_suspension_notifies_at_commit(api: Api) -> None:

    async def suspend() -> None:
        async with api.app.unit_of_work() as session:
            await suspend_tenant(session, bot_id=api.bot_ids["Alpha"], actor="test")

    assert await _notified(api.app, suspend) == [api.bot_ids["Alpha"]]
