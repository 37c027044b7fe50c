"""`tenantctl master | tenant | billing | demo` through the real Typer app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tenantctl.cli.main import app
from tenantctl.core.app import open_app
from tests.tenants.support import (
    MASTER_ENV,
    MASTER_SECRETS,
    MASTER_TOKEN,
    add_features_and_plans,
    fake_bot_api,
    tenant_token,
    write_env,
)
from tests.tenants.test_demo import demo_env

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None):
    result = invoke(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


def refused(*args: str, message: str, code: int = 1):
    result = invoke(*args)
    assert result.exit_code == code, result.output
    assert message in result.output.replace("\n", " ")
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2
    return result


@pytest.fixture
def platform(cli_env, settings, tmp_path) -> str:
    """Features and plans in the test database, and the master registered from a small .env (offline)."""

    async def seed() -> None:
        async with open_app(settings) as opened:
            async with opened.unit_of_work() as session:
                await add_features_and_plans(session)

    asyncio.run(seed())
    env = write_env(tmp_path)
    ok("master", "init", "--env", env, "--offline")
    return env


def create(n: int, *extra: str, plan: str = "starter"):
    return invoke("tenant", "create", "--name", f"Shop {n}", "--token", tenant_token(n), "--owner", str(700 + n),
                  "--plan", plan, "--language", "en", "--support", "@shop_help", "--offline", *extra)


def test_master_init_reports_created_then_the_diff(cli_env, platform, tmp_path) -> None:
    smaller = write_env(tmp_path, f"BOT_TOKEN={MASTER_TOKEN}\nSUPPORT_USERNAME=@other\nNEW_FLAG_ENABLED=true\n", name="other.env")
    again = ok("master", "init", "--env", smaller, "--offline", "--json")
    data = json.loads(again.stdout)
    assert data["created"] is False and data["added"] == ["NEW_FLAG_ENABLED"] and data["changed"] == ["SUPPORT_USERNAME"]
    assert "YOOKASSA_SECRET_KEY" in data["removed"] and "BOT_TOKEN" not in data["changed"] and data["verified_with_getme"] is False
    human = ok("master", "init", "--env", platform, "--offline")
    assert "updated the master bot" in human.output and "getMe skipped (--offline)" in human.output
    assert "added: " in human.output and "removed: NEW_FLAG_ENABLED" in human.output
    for secret in MASTER_SECRETS.values():
        assert secret not in again.output + human.output
    refused("master", "init", "--env", "missing.env", "--offline", message="cannot read .env file")


def test_tenant_create_prints_the_api_token_once_and_refuses_duplicates(cli_env, platform) -> None:
    result = create(1, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "Shop 1" and data["plan"] == "starter" and data["verified_with_getme"] is False
    assert data["api_token"].startswith("tc_") and tenant_token(1) not in result.output
    human = create(2, "--share", "YOOKASSA_SECRET_KEY")
    assert human.exit_code == 0, human.output
    assert "created tenant Shop 2" in human.output and "getMe skipped (--offline)" in human.output
    assert "API token (shown once" in human.output and "shared: YOOKASSA_SECRET_KEY" in human.output
    token_line = [line.strip() for line in human.output.splitlines() if line.strip().startswith("tc_")]
    assert len(token_line) == 1
    listed = ok("tenant", "token", "Shop 2", "list")
    assert token_line[0] not in listed.output and token_line[0].split("_")[1] in listed.output

    refused("tenant", "create", "--name", "Again", "--token", tenant_token(1), "--owner", "1", "--plan", "starter", "--offline",
            message="already registered as tenant 'Shop 1'")
    refused("tenant", "create", "--name", "Mine", "--token", "1111111111:MASTERtokenMASTERtokenMASTERtoken00", "--owner", "1",
            "--plan", "starter", "--offline", message="master bot's own token")
    refused("tenant", "create", "--name", "Bad", "--token", "nope", "--owner", "1", "--plan", "starter", "--offline",
            message="not a Telegram bot token")
    refused("tenant", "create", "--name", "Typo", "--token", tenant_token(9), "--owner", "1", "--plan", "growht", "--offline",
            message="did you mean growth")
    refused("tenant", "create", "--name", "Leak", "--token", tenant_token(9), "--owner", "1", "--plan", "starter", "--offline",
            "--share", "REMNAWAVE_API_KEY", message="master-only: REMNAWAVE_* (the operator's panel), never shared")
    stdin = runner.invoke(app, ["tenant", "create", "--name", "Piped", "--token", "-", "--owner", "9", "--plan", "starter", "--offline"],
                          input=tenant_token(8) + "\n")
    assert stdin.exit_code == 0, stdin.output


def test_tenant_commands(cli_env, platform) -> None:
    assert create(1).exit_code == 0 and create(2, plan="growth").exit_code == 0
    rows = json.loads(ok("tenant", "list", "--json").stdout)
    assert [(r["name"], r["plan"], r["status"], r["user_count"]) for r in rows] == [("Shop 1", "starter", "active", 0), ("Shop 2", "growth", "active", 0)]
    table = ok("tenant", "list", "--plan", "growth").output
    assert "Shop 2" in table and "Shop 1" not in table
    assert "no tenants match" in ok("tenant", "list", "--status", "cancelled").output

    shown = json.loads(ok("tenant", "show", "Shop 1", "--json").stdout)
    assert shown["admins"] == [{"telegram_user_id": 701, "role": "owner", "since": shown["admins"][0]["since"]}]
    assert shown["features_enabled"] == 2 and shown["config_keys"] > 5
    assert "subscription" in ok("tenant", "show", str(shown["id"])).output

    assert "on plan growth" in ok("tenant", "set-plan", "Shop 1", "growth").output
    assert json.loads(ok("tenant", "show", "Shop 1", "--json").stdout)["features_enabled"] == 3
    assert "Shop 1 is suspended" in ok("tenant", "suspend", "Shop 1").output
    refused("tenant", "suspend", "Shop 1", message="only an active tenant can be suspended")
    assert "Shop 1 is active" in ok("tenant", "resume", "Shop 1").output
    assert "Shop 1 is cancelled" in ok("tenant", "cancel", "Shop 1").output
    assert json.loads(ok("tenant", "show", "Shop 1", "--json").stdout)["features_enabled"] == 0

    assert "added admin 42" in ok("tenant", "admins", "Shop 2", "add", "42").output
    admins = json.loads(ok("tenant", "admins", "Shop 2", "list", "--json").stdout)
    assert [a["telegram_user_id"] for a in admins] == [702, 42]
    refused("tenant", "admins", "Shop 2", "remove", "702", message="the owner cannot be removed")
    refused("tenant", "admins", "Shop 2", "remove", message="needs a Telegram user id")
    refused("tenant", "admins", "Shop 2", "promote", "1", message="unknown action")
    ok("tenant", "admins", "Shop 2", "remove", "42")

    issued = json.loads(ok("tenant", "token", "Shop 2", "issue", "--json").stdout)
    prefix = issued["api_token"].split("_")[0] + "_" + issued["api_token"].split("_")[1]
    assert "revoked " + prefix in ok("tenant", "token", "Shop 2", "revoke", prefix).output
    refused("tenant", "token", "Shop 2", "revoke", prefix, message="revoked already")
    refused("tenant", "token", "Shop 2", "revoke", message="needs the token's prefix")

    dry = json.loads(ok("tenant", "clone-config", "Shop 2", "--dry-run", "--json").stdout)
    assert dry["dry_run"] and dry["excluded"]["REMNAWAVE_API_KEY"] == "master-only: REMNAWAVE_* (the operator's panel)"
    assert dry["excluded"]["YOOKASSA_SHOP_ID"].startswith("master-only: the user or id half of a credential")
    assert "TRIAL_DURATION_DAYS" in dry["copied"]
    human = ok("tenant", "clone-config", "Shop 2", "--share", "YOOKASSA_SECRET_KEY").output
    assert "did copy" in human and "REMNAWAVE_API_KEY: master-only: REMNAWAVE_* (the operator's panel)" in human
    refused("tenant", "show", "Shop 3", message="no tenant bot 'Shop 3' (did you mean Shop")


def test_share_never_lifts_a_master_only_family(cli_env, platform, tmp_path) -> None:
    panel_secrets = {"REMNAWAVE_CADDY_TOKEN": "caddy-token-value-41d0", "REMNAWAVE_WEBHOOK_SECRET": "rw-webhook-secret-value-8e27"}
    env = write_env(tmp_path, MASTER_ENV + "".join(f"{k}={v}\n" for k, v in panel_secrets.items()), name="panel.env")
    ok("master", "init", "--env", env, "--offline")
    family = "master-only: REMNAWAVE_* (the operator's panel)"
    outputs = []
    for key in panel_secrets:
        created = refused("tenant", "create", "--name", "Shop 1", "--token", tenant_token(1), "--owner", "701", "--plan", "starter",
                          "--offline", "--share", key, message=f"error: --share {key}: {family}, never shared")
        outputs.append(created.output)
    assert create(1).exit_code == 0
    for key in panel_secrets:
        cloned = refused("tenant", "clone-config", "Shop 1", "--share", key, message=f"error: --share {key}: {family}, never shared")
        outputs.append(cloned.output)
    assert all(len(output.strip().splitlines()) == 1 for output in outputs)
    dry = json.loads(ok("tenant", "clone-config", "Shop 1", "--dry-run", "--json").stdout)
    assert {key: dry["excluded"][key] for key in panel_secrets} == dict.fromkeys(panel_secrets, family)
    assert not any(value in output for value in panel_secrets.values() for output in outputs)


def test_tenant_create_checks_the_token_with_get_me(cli_env, platform, monkeypatch) -> None:
    identity = {"id": 2000000005, "username": "shop_five_bot", "first_name": "Shop Five"}
    with fake_bot_api({tenant_token(5): identity}) as server:
        monkeypatch.setenv("TELEGRAM_API_SERVER", server)
        result = invoke("tenant", "create", "--name", "Shop 5", "--token", tenant_token(5), "--owner", "5", "--plan", "starter", "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert (data["username"], data["telegram_id"], data["verified_with_getme"]) == ("shop_five_bot", 2000000005, True)
        rejected = refused("tenant", "create", "--name", "Shop 6", "--token", tenant_token(6), "--owner", "6", "--plan", "starter",
                           message="Telegram rejected the token (getMe: Unauthorized)")
        assert tenant_token(6).split(":")[1] not in rejected.output
    refused("tenant", "create", "--name", "Shop 6", "--token", tenant_token(6), "--owner", "6", "--plan", "starter",
            message="cannot reach the Bot API")
    assert [r["name"] for r in json.loads(ok("tenant", "list", "--json").stdout)] == ["Shop 5"]


def test_billing_tick_and_record_payment(cli_env, platform) -> None:
    assert create(1).exit_code == 0
    report = json.loads(ok("billing", "tick", "--json").stdout)
    assert report["skipped"] is None and report["expired"] == [] and report["renewals"] == []
    assert "tick done: 0 expired" in ok("billing", "tick").output
    first = ok("billing", "record-payment", "Shop 1", "--amount", "5 000", "--method", "manual", "--reference", "REF-1")
    assert "recorded 5 000.00 RUB (manual/REF-1) for Shop 1" in first.output
    end = json.loads(ok("tenant", "show", "Shop 1", "--json").stdout)["end_date"]
    again = json.loads(ok("billing", "record-payment", "Shop 1", "--amount", "5000", "--reference", "REF-1", "--json").stdout)
    assert again["extended"] is False and again["end_date"] == end
    assert "recorded already" in ok("billing", "record-payment", "Shop 1", "--amount", "5000", "--reference", "REF-1").output
    refused("billing", "record-payment", "Shop 1", "--amount", "five", "--reference", "R", message="not an amount in rubles")
    refused("billing", "record-payment", "Shop 1", "--amount", "1", "--method", "cash", "--reference", "R", message="payment method")


def test_demo_then_refuses_a_second_run(cli_env, settings) -> None:
    env = demo_env()
    first = ok("demo", "--env", env)
    assert "Aurora VPN" in first.output and "try next:" in first.output and "tenantctl tenant list" in first.output
    assert first.output.count("tc_") == 3
    refused("demo", "--env", env, message="demo --reset")
    if settings.is_sqlite:
        assert "Nimbus VPN" in ok("demo", "--env", env, "--reset").output
    else:
        refused("demo", "--env", env, "--reset", message="refused on PostgreSQL")
    names = [r["name"] for r in json.loads(ok("tenant", "list", "--json").stdout)]
    assert names == ["Aurora VPN", "Sever VPN", "Nimbus VPN"]


def test_the_cli_modules_never_import_aiogram() -> None:
    code = ("import sys, tenantctl.cli.main, tenantctl.tenants.service, tenantctl.demo.service, tenantctl.tenants.telegram, "
            "tenantctl.billing.service; sys.exit('aiogram' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_bot_run_refuses_to_start_without_its_settings_or_port(cli_env, platform, monkeypatch) -> None:
    import socket

    monkeypatch.delenv("MASTER_BOT_TOKEN", raising=False)
    refused("bot", "run", code=2, message="MASTER_BOT_TOKEN is not set")
    monkeypatch.setenv("MASTER_BOT_TOKEN", tenant_token(1))
    refused("bot", "run", code=2, message="MASTER_BOT_TOKEN is not the master bot's token")
    monkeypatch.setenv("MASTER_BOT_TOKEN", MASTER_TOKEN)
    monkeypatch.setenv("MASTER_ADMIN_IDS", "")
    refused("bot", "run", code=2, message="MASTER_ADMIN_IDS is not set")
    monkeypatch.setenv("MASTER_ADMIN_IDS", "1000")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused("bot", "run", "--webhook", "--public-url", "https://bots.example.com", "--listen", f"127.0.0.1:{port}", code=2,
                message=f"cannot listen on 127.0.0.1:{port}")
