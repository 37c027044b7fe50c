"""The API's cache of OFREP answers: concurrent requests for a tenant not held share one database read, whose error
reaches each of them and is not kept; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from tenantctl.api import app as api_app
from tenantctl.api.app import FlagCache
from tests.api.conftest import Api, statements

REQUESTS = 20


async def test_concurrent_requests_for_a_cold_tenant_share_one_read(api: Api, monkeypatch) -> None:
    alpha = api.bot_ids["Alpha"]
    reads: list[int] = []
    explain = api_app.explain_bot_flags

    async def counted(session, *, bot_id):
        reads.append(bot_id)
        return await explain(session, bot_id=bot_id)

    monkeypatch.setattr(api_app, "explain_bot_flags", counted)
    cache = FlagCache(api.app)
    with statements(api.app) as alone:
        single = await cache.get(alpha)
    await cache.refresh([alpha])  # cold again
    with statements(api.app) as shared:
        answers = await asyncio.gather(*(cache.get(alpha) for _ in range(REQUESTS)))
    assert reads == [alpha, alpha]  # one read for the first request, one for the twenty that came together
    assert len(shared) == len(alone) > 0  # and the twenty ran the queries of one read
    assert all(answer is answers[0] for answer in answers) and answers[0].bulk.etag == single.bulk.etag
    assert cache.held(alpha) is answers[0]
    with statements(api.app) as held:
        assert await cache.get(alpha) is answers[0]
    assert not held


async def test_a_failed_read_reaches_every_waiter_and_is_not_kept(api: Api, monkeypatch) -> None:
    alpha = api.bot_ids["Alpha"]
    reads: list[int] = []
    explain = api_app.explain_bot_flags

    async def failing_once(session, *, bot_id):
        reads.append(bot_id)
        if len(reads) == 1:
            await asyncio.sleep(0.05)  # the others arrive while it runs
            raise ConnectionError("the database went away")
        return await explain(session, bot_id=bot_id)

    monkeypatch.setattr(api_app, "explain_bot_flags", failing_once)
    cache = FlagCache(api.app)
    answers = await asyncio.gather(*(cache.get(alpha) for _ in range(REQUESTS)), return_exceptions=True)
    assert len(reads) == 1 and all(isinstance(answer, ConnectionError) for answer in answers)
    assert cache.held(alpha) is None  # the error is not kept: the next request reads again
    assert (await cache.get(alpha)).by_key and reads == [alpha, alpha]


async def test_a_request_after_a_refresh_does_not_join_a_read_begun_before_it(api: Api, monkeypatch) -> None:
    alpha = api.bot_ids["Alpha"]
    reads: list[int] = []
    explain = api_app.explain_bot_flags
    release = asyncio.Event()

    async def slow(session, *, bot_id):
        reads.append(bot_id)
        if len(reads) == 1:
            await release.wait()
        return await explain(session, bot_id=bot_id)

    monkeypatch.setattr(api_app, "explain_bot_flags", slow)
    cache = FlagCache(api.app)
    before = asyncio.create_task(cache.get(alpha))
    while not reads:
        await asyncio.sleep(0.01)
    await cache.refresh([alpha])  # a change lands while the first read runs
    after = await cache.get(alpha)  # a read of its own, kept
    release.set()
    await before
    assert reads == [alpha, alpha] and cache.held(alpha) is after


async def test_a_cancelled_request_does_not_cancel_the_shared_read(api: Api) -> None:
    alpha = api.bot_ids["Alpha"]
    cache = FlagCache(api.app)
    first, second = asyncio.create_task(cache.get(alpha)), asyncio.create_task(cache.get(alpha))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second).by_key and cache.held(alpha) is not None
    await cache.close()


def test_end_users_given_the_same_splits_share_one_bulk_answer(monkeypatch) -> None:
    from tenantctl.api.app import TenantFlags
    from tenantctl.flags.rollout import bucket

    def body(key: str, value: object) -> dict:
        return {"key": key, "value": value, "reason": "SPLIT", "variant": str(value), "metadata": {}}

    flags = TenantFlags(7, {"a": body("a", False), "a.config": body("a.config", {}), "b": body("b", True)},
                        {"a": "off", "b": "on"}, {"a": ("a", [(50, body("a", True), "on")]),
                                                  "a.config": ("a", [(50, body("a.config", {"X": 1}), None)])})
    users = [f"user-{n}" for n in range(40)]
    inside = [u for u in users if bucket("a", u) <= 50]
    outside = [u for u in users if bucket("a", u) > 50]
    assert inside and outside
    assert flags.bulk_for(None) == (flags.bulk, True)
    first, kept = flags.bulk_for(inside[0])
    assert kept and all(flags.bulk_for(u)[0] is first for u in inside)  # built once for all of them
    assert b'"X":1' in first.body and first.results == {"a": "on", "b": "on"} and first.etag != flags.bulk.etag
    outer = flags.bulk_for(outside[0])[0]
    assert outer.body == flags.bulk.body and outer.etag == flags.bulk.etag and outer.results == flags.bulk.results
    assert len(flags.by_choice) == 2 and flags.bulks() == [flags.bulk, first, outer]

    monkeypatch.setattr("tenantctl.api.app.BULKS_HELD", 0)
    fresh = TenantFlags(7, flags.by_key, flags.results, flags.splits)
    built, kept = fresh.bulk_for(inside[0])
    assert not kept and built.body == first.body and not fresh.by_choice  # built for the request alone
    cache = FlagCache(None)  # its app is only for reads from the database
    built.hits += 1
    cache.fold(7, built)  # what the handler does with an answer not kept: counted at once
    assert cache.take_usage() == {(7, "a", "on"): 1, (7, "b", "on"): 1} and built.hits == 0
