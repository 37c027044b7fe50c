"""The Remnawave client against the fake panel over real HTTP: every endpoint it uses, and its one error type without the key."""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web

from tenantctl.core.errors import ConfigError, TenantctlError
from tenantctl.customers.panel import NOT_FOUND, REJECTED, UNAVAILABLE, USER_EXISTS, PanelClient, PanelError
from tests.customers.conftest import PANEL_KEY as KEY

GIB = 1024 ** 3
EXPIRY = datetime(2031, 5, 17, 12, 30, 15, 250000, tzinfo=timezone.utc)


async def test_a_user_is_created_read_updated_and_switched(fake, panel) -> None:
    created = await panel.create_user(username="t7_501", expire_at=EXPIRY, traffic_limit_bytes=50 * GIB, device_limit=3,
                                       telegram_id=501, description="tenant 7", tag="TENANT_7")
    assert (created.username, created.status, created.expire_at, created.traffic_limit_bytes, created.device_limit,
            created.telegram_id, created.tag, created.used_traffic_bytes) == (
        "t7_501", "ACTIVE", EXPIRY.replace(microsecond=250000), 50 * GIB, 3, 501, "TENANT_7", 0)
    assert created.subscription_url.startswith(fake.url + "/api/sub/")
    (squad,) = fake.squads
    assert fake.calls("POST")[0].body == {"username": "t7_501", "status": "ACTIVE", "expireAt": "2031-05-17T12:30:15.250Z",
                                          "trafficLimitBytes": 50 * GIB, "trafficLimitStrategy": "NO_RESET", "hwidDeviceLimit": 3,
                                          "telegramId": 501, "description": "tenant 7", "tag": "TENANT_7",
                                          "activeInternalSquads": [squad]}  # no squads configured: every squad the panel has
    assert fake.user("t7_501")["activeInternalSquads"] == [{"uuid": squad, "name": "Default-Squad"}]

    fake.set_used_traffic("t7_501", 3 * GIB)
    assert (await panel.get_user(created.uuid)).used_traffic_bytes == 3 * GIB
    assert (await panel.find_user("t7_501")).uuid == created.uuid
    assert await panel.find_user("t7_502") is None

    later = EXPIRY + timedelta(days=30)
    updated = await panel.update_user(created.uuid, expire_at=later, traffic_limit_bytes=0, device_limit=5)
    assert (updated.expire_at, updated.traffic_limit_bytes, updated.device_limit) == (later, 0, 5)
    assert (await panel.disable_user(created.uuid)).status == "DISABLED"
    assert fake.user("t7_501")["status"] == "DISABLED"
    assert (await panel.enable_user(created.uuid)).status == "ACTIVE"
    assert (await panel.reset_traffic(created.uuid)).used_traffic_bytes == 0
    assert [(r.method, r.status) for r in fake.requests] == [("GET", 200), ("POST", 201), ("GET", 200), ("GET", 200), ("GET", 404),
                                                             ("PATCH", 200), ("POST", 200), ("POST", 200), ("POST", 200)]


async def test_new_users_join_the_configured_squads_and_the_panel_is_asked_for_its_squads_once(fake) -> None:
    chosen = "3f2c5a1e-8d4b-4c6a-9e7f-0a1b2c3d4e5f"
    fake.squads[chosen] = "Premium"
    async with PanelClient(fake.url, KEY, squads=(chosen,)) as configured:
        await configured.create_user(username="t7_601", expire_at=EXPIRY, traffic_limit_bytes=0, device_limit=1)
    assert fake.user("t7_601")["activeInternalSquads"] == [{"uuid": chosen, "name": "Premium"}]
    assert not fake.calls("GET", "/api/internal-squads")

    async with PanelClient(fake.url, KEY) as every:
        for n in (602, 603):
            await every.create_user(username=f"t7_{n}", expire_at=EXPIRY, traffic_limit_bytes=0, device_limit=1)
    assert {s["name"] for s in fake.user("t7_603")["activeInternalSquads"]} == {"Default-Squad", "Premium"}
    assert len(fake.calls("GET", "/api/internal-squads")) == 1


async def test_the_base_url_may_name_the_api_folder(fake) -> None:
    async with PanelClient(fake.url + "/api/", KEY) as panel:
        assert await panel.find_user("nobody") is None
    assert fake.requests[-1].path == "/api/users/by-username/nobody"


async def test_panel_answers_become_one_error_type(fake, panel) -> None:
    await panel.create_user(username="t1_1", expire_at=EXPIRY, traffic_limit_bytes=0, device_limit=1)
    with pytest.raises(PanelError) as taken:
        await panel.create_user(username="t1_1", expire_at=EXPIRY, traffic_limit_bytes=0, device_limit=1)
    assert (taken.value.code, taken.value.status) == (USER_EXISTS, 400)
    assert isinstance(taken.value, TenantctlError)
    with pytest.raises(PanelError) as missing:
        await panel.get_user("00000000-0000-0000-0000-000000000000")
    assert (missing.value.code, missing.value.status) == (NOT_FOUND, 404)
    with pytest.raises(PanelError) as invalid:
        await panel.create_user(username="no spaces", expire_at=EXPIRY, traffic_limit_bytes=0, device_limit=1)
    assert invalid.value.code == REJECTED

    fake.fail_next(2)
    for _ in range(2):
        with pytest.raises(PanelError) as busy:
            await panel.find_user("t1_1")
        assert (busy.value.code, busy.value.status) == (UNAVAILABLE, 503)
    assert await panel.find_user("t1_1") is not None

    fake.down()
    with pytest.raises(PanelError, match="503"):
        await panel.find_user("t1_1")
    fake.up()
    assert await panel.find_user("t1_1") is not None


async def test_a_lost_answer_is_unavailable_though_the_panel_acted(fake, panel) -> None:
    await panel.new_user_squads()  # read before the creation, which then is the next request
    fake.lose_next_responses(1)
    with pytest.raises(PanelError) as lost:
        await panel.create_user(username="t1_2", expire_at=EXPIRY, traffic_limit_bytes=0, device_limit=1)
    assert lost.value.code == UNAVAILABLE
    assert fake.user("t1_2")["status"] == "ACTIVE"


async def test_the_api_key_is_never_in_an_error_or_a_log(fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    async with PanelClient(fake.url, "wrong-" + KEY) as wrong:
        with pytest.raises(PanelError) as refused:
            await wrong.find_user("t1_1")
    assert (refused.value.code, refused.value.status) == (REJECTED, 401)

    async def echo(request: web.Request) -> web.Response:  # a proxy that quotes the request's header back
        return web.json_response({"message": f"bad token {request.headers['Authorization']}"}, status=403)

    app = web.Application()
    app.router.add_get("/api/users/by-username/{name}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with PanelClient(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", KEY) as quoting:
            with pytest.raises(PanelError) as echoed:
                await quoting.find_user("t1_1")
    finally:
        await runner.cleanup()
    assert "bad token Bearer ***" in str(echoed.value)

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(ConfigError) as with_password:
        PanelClient(f"https://admin:{KEY}@panel.example.com", KEY)
    async with PanelClient(f"http://127.0.0.1:{port}", KEY, timeout=2) as closed:
        with pytest.raises(PanelError) as unreachable:
            await closed.find_user("t1_1")
    assert unreachable.value.code == UNAVAILABLE
    assert "127.0.0.1" in str(unreachable.value)
    for text in (str(refused.value), str(echoed.value), str(with_password.value), str(unreachable.value), caplog.text, repr(closed)):
        assert KEY not in text
