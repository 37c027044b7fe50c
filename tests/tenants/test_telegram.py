"""The provisioning Bot API client against a small aiohttp server on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from tenantctl.core.errors import Invalid
from tenantctl.tenants.telegram import BotIdentity, get_me, validate_token_format
from tests.tenants.support import fake_bot_api, tenant_token

TOKEN = tenant_token(7)


@pytest.mark.parametrize("token", ["", "abc", "123:short", "1234:" + "a" * 35, "123456:" + "a" * 51, "123456:" + "a" * 34 + "!"])
def test_malformed_tokens_are_refused_without_echoing_them(token: str) -> None:
    with pytest.raises(Invalid) as error:
        validate_token_format(token)
    assert "@BotFather" in str(error.value) and (not token or token not in str(error.value))


def test_a_well_formed_token_passes_stripped() -> None:
    assert validate_token_format(f"  {TOKEN}\n") == TOKEN


async def test_get_me_returns_the_identity() -> None:
    with fake_bot_api({TOKEN: {"id": 2000000007, "username": "seven_bot", "first_name": "Seven"}}) as server:
        assert await get_me(server + "/", TOKEN) == BotIdentity(2000000007, "seven_bot", "Seven")


async def test_unauthorized_is_a_clear_line_without_the_token() -> None:
    with fake_bot_api({}) as server:
        with pytest.raises(Invalid, match=r"Telegram rejected the token \(getMe: Unauthorized\)") as error:
            await get_me(server, TOKEN)
    assert TOKEN.split(":")[1] not in str(error.value)


async def test_network_errors_and_timeouts_are_one_line_without_the_token() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Invalid, match="cannot reach the Bot API at http://127.0.0.1") as error:
        await get_me(f"http://127.0.0.1:{port}", TOKEN)
    assert TOKEN.split(":")[1] not in str(error.value)
    with fake_bot_api({TOKEN: {"id": 1, "username": "x_bot"}}, delay=2) as server:
        with pytest.raises(Invalid, match="did not answer getMe within 0.3s"):
            await get_me(server, TOKEN, timeout=0.3)
