"""`bot run --webhook --with-api`: the tenant API on the webhook listener, its flag watcher running with it."""

from __future__ import annotations

import asyncio

import aiohttp

from tenantctl.bot.runner import Runner, WebhookConfig
from tenantctl.core.app import App
from tenantctl.flags.models import Feature
from tenantctl.tenants.overrides import set_override
from tenantctl.tenants.service import provision_tenant
from tenantctl.tenants.telegram import BotIdentity
from tenantctl.testing.fake_telegram import FakeTelegram

SUPPORT = {"key": "support_tickets", "env_key": "SUPPORT_SYSTEM_MODE", "category": "support", "kind": "mode",
           "allowed_values": ["off", "tickets", "contact", "both"], "default_enabled": True, "default_value": "tickets",
           "default_config": {"SUPPORT_USERNAME": "@help"}, "config_keys": ["SUPPORT_USERNAME"]}


async def test_the_tenant_api_is_served_on_the_webhook_listener(bot_app: App, fake: FakeTelegram) -> None:
    tenant = fake.add_bot(username="alpha_bot", first_name="Alpha")
    async with bot_app.unit_of_work() as session:
        session.add(Feature(**SUPPORT))
        await session.flush()
        provisioned = await provision_tenant(session, name="Alpha", token=tenant.token, owner_telegram_id=501, plan="basic",
                                             box=bot_app.secret_box, actor="test",
                                             identity=BotIdentity(tenant.id, tenant.username, tenant.first_name))
    token, bot_id = provisioned.api_token_plaintext, provisioned.bot.id
    runner = Runner(bot_app, webhook=WebhookConfig(public_url="http://127.0.0.1:0", port=0), interval=0.2, with_api=True)
    await runner.start()
    try:
        url = f"http://127.0.0.1:{runner.webhook_port}"
        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/ofrep/v1/evaluate/flags", headers=auth, json={}) as response:
                assert response.status == 200 and response.headers["ETag"]
                flags = {flag["key"]: flag for flag in (await response.json())["flags"]}
            assert flags["support_tickets"]["value"] == "tickets"
            async with http.post(f"{url}/ofrep/v1/evaluate/flags/support_tickets", json={}) as response:
                assert response.status == 401  # no token
            async with http.post(f"{url}/webhook/{bot_id + 1000}", json={"update_id": 1}) as response:
                assert response.status == 404  # the webhook route is still there, and the API's check not on it

            async with bot_app.unit_of_work() as session:
                await set_override(session, bot_id=bot_id, feature="support_tickets", enabled=True, value="both",
                                   actor="test", reason="trial")
            for _ in range(40):  # the API's flag watcher runs on the listener (NOTIFY, or a poll on SQLite)
                async with http.post(f"{url}/ofrep/v1/evaluate/flags/support_tickets", headers=auth, json={}) as response:
                    flag = await response.json()
                if flag["value"] == "both":
                    break
                await asyncio.sleep(0.1)
            assert (flag["value"], flag["reason"]) == ("both", "TARGETING_MATCH")
    finally:
        await runner.stop()
    async with aiohttp.ClientSession() as http:  # stopped: the listener, and the API with it, are gone
        try:
            async with http.post(f"{url}/ofrep/v1/evaluate/flags", headers=auth, json={}) as response:
                stopped = response.status
        except aiohttp.ClientConnectionError:
            stopped = None
    assert stopped is None


def test_with_api_needs_the_webhook_listener() -> None:
    from typer.testing import CliRunner

    from tenantctl.cli.main import app

    result = CliRunner().invoke(app, ["bot", "run", "--with-api"])
    assert result.exit_code == 2
    assert "--with-api mounts the tenant API on the webhook listener" in result.output.replace("\n", " ")
