"""`tenantctl tenant plans | cards | gateway BOT ...` through the real Typer app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from tenantctl.cli.main import app
from tenantctl.core.app import open_app
from tenantctl.flags.models import Feature
from tests.tenants.support import dump_database
from tests.tenants.test_cli import create, platform  # noqa: F401 (platform is a fixture)

runner = CliRunner()
SECRET = "yk-cli-secret-7d20be"


def ok(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str, message: str, input: str | None = None) -> None:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 1 and result.output.replace("\n", " ").strip() == f"error: {message}", result.output


@pytest.fixture
def shops(platform, settings) -> None:  # noqa: F811
    """Shop 1 on growth (YooKassa on, with a secret key and typed settings) and Shop 2 on starter (YooKassa off)."""

    async def configure() -> None:
        async with open_app(settings) as opened, opened.unit_of_work() as session:
            config = {"YOOKASSA_SECRET_KEY": None, "YOOKASSA_VAT_CODE": 1, "YOOKASSA_SBP_ENABLED": False}
            await session.execute(update(Feature).where(Feature.key == "yookassa").values(
                default_config=config, config_keys=list(config), secret_keys=["YOOKASSA_SECRET_KEY"]))

    asyncio.run(configure())
    assert create(1, plan="growth").exit_code == 0 and create(2).exit_code == 0


def test_plans_add_list_edit_archive(cli_env, shops) -> None:
    assert "Shop 1 has no plans yet" in ok("tenant", "plans", "Shop 1", "list")
    assert "added plan 1  1 month  199.90  30 days  50 GB  2 device(s)" in ok(
        "tenant", "plans", "Shop 1", "add", "--name", "1 month", "--period", "۳۰", "--price", "۱۹۹٫۹۰", "--traffic", "50", "--devices", "2")
    ok("tenant", "plans", "Shop 1", "add", "--name", "[/]Year", "--period", "365", "--price", "1990")
    for args, message in (
        (("--name", "", "--period", "30", "--price", "1"), "the plan name is required"),
        (("--name", "x", "--period", "0", "--price", "1"), "the period (days) is a whole number from 1 to 3650, not '0'"),
        (("--name", "x", "--period", "30", "--price", "1.999"), "the price is an amount like 199 or 199.90 (at most 2 decimals), not '1.999'"),
        (("--name", "x", "--period", "30", "--price", "1", "--traffic", "-1"),
         "the traffic (GB, 0 for unlimited) is a whole number from 0 to 100000, not '-1'"),
        (("--name", "x", "--period", "30", "--price", "1", "--devices", "101"), "the device limit is a whole number from 1 to 100, not '101'"),
        (("--name", "1 MONTH", "--period", "30", "--price", "1"), "this bot already has a plan named '1 MONTH'"),
    ):
        refused("tenant", "plans", "Shop 1", "add", *args, message=message)
    assert "plan 2  [/]Year  1800.00  365 days  unlimited traffic  3 device(s)" in ok(
        "tenant", "plans", "Shop 1", "edit", "2", "--price", "1800", "--devices", "3")
    refused("tenant", "plans", "Shop 1", "edit", "2", message="nothing to change: give a name, period, price, traffic or device limit")
    assert "plan 1 (1 month) archived: no longer offered" in ok("tenant", "plans", "Shop 1", "archive", "1")
    listed = ok("tenant", "plans", "Shop 1", "list").splitlines()
    assert listed[0].startswith("   2  [/]Year") and listed[1].endswith("(archived)") and listed[2] == "2 plan(s) of Shop 1"
    rows = json.loads(ok("tenant", "plans", "Shop 1", "list", "--json"))
    assert [(r["id"], r["price_kopeks"], r["period_days"], r["active"]) for r in rows] == [(2, 180000, 365, True), (1, 19990, 30, False)]
    assert "offered again" in ok("tenant", "plans", "Shop 1", "unarchive", "1")

    # Shop 2 reaches none of Shop 1's plans
    for command in (("edit", "1", "--price", "1"), ("archive", "1"), ("unarchive", "2")):
        refused("tenant", "plans", "Shop 2", *command, message=f"no plan {command[1]} on this bot")
    assert json.loads(ok("tenant", "plans", "Shop 2", "list", "--json")) == []
    refused("tenant", "plans", "Nobody", "list", message="no tenant bot 'Nobody'")
    actions = [e["action"] for e in json.loads(ok("audit", "list", "--json"))]
    assert actions.count("bot_plan.create") == 2 and {"bot_plan.edit", "bot_plan.archive", "bot_plan.unarchive"} <= set(actions)


def test_cards_are_the_tenants_own(cli_env, shops) -> None:
    assert "no cards yet: `tenantctl cards add NUMBER --holder NAME --bot BOT`" in ok("tenant", "cards", "Shop 1", "list")
    assert "added card 1: •••• 1111" in ok("tenant", "cards", "Shop 1", "add", "4111 1111 1111 1111", "--holder", "Ali")
    ok("cards", "add", "2200 0000 0000 0004", "--holder", "Master")  # the master's card, id 2
    refused("tenant", "cards", "Shop 1", "add", "4111 1111 1111 1112", "--holder", "X",
            message="that card number is mistyped (its check digit is wrong)")
    assert [c["number"] for c in json.loads(ok("tenant", "cards", "Shop 1", "list", "--json"))["cards"]] == ["•••• 1111"]
    assert "card 1 (•••• 1111) disabled" in ok("tenant", "cards", "Shop 1", "disable", "1")
    assert "card 1 (•••• 1111) enabled" in ok("tenant", "cards", "Shop 1", "enable", "1")
    for command in ("disable", "enable", "remove"):
        refused("tenant", "cards", "Shop 1", command, "2", message="no card 2 on this bot")  # the master's
        refused("tenant", "cards", "Shop 2", command, "1", message="no card 1 on this bot")  # Shop 1's
    assert "removed card 1 (•••• 1111)" in ok("tenant", "cards", "Shop 1", "remove", "1")
    assert json.loads(ok("tenant", "cards", "Shop 1", "list", "--json"))["cards"] == []
    assert [c["holder"] for c in json.loads(ok("cards", "list", "--json"))["cards"]] == ["Master"]


def test_gateway_show_and_set_never_print_a_secret(cli_env, shops, settings) -> None:
    shown = ok("tenant", "gateway", "Shop 1", "show")
    assert "yookassa (payment_gateways)" in shown and "YOOKASSA_SECRET_KEY: unset (secret)" in shown
    assert "YOOKASSA_VAT_CODE = 1  (feature)" in shown
    assert "YOOKASSA_SECRET_KEY: set (stored encrypted)" in ok(
        "tenant", "gateway", "Shop 1", "set", "yookassa", "YOOKASSA_SECRET_KEY=-", input=SECRET + "\n")
    assert "YOOKASSA_VAT_CODE = 2  (tenant)" in ok("tenant", "gateway", "Shop 1", "set", "yookassa", "YOOKASSA_VAT_CODE=۲")
    data = json.loads(ok("tenant", "gateway", "Shop 1", "show", "--json"))
    secret = next(s for s in data[0]["settings"] if s["key"] == "YOOKASSA_SECRET_KEY")
    assert secret == {"key": "YOOKASSA_SECRET_KEY", "secret": True, "set": True, "source": "tenant"}
    everything_printed = ok("tenant", "gateway", "Shop 1", "show") + json.dumps(data) + ok("audit", "list", "--json") + ok("audit", "list")
    assert SECRET not in everything_printed
    for args, message in (
        (("Shop 1", "set", "yookassa", "YOOKASSA_ENABLED=false"), "YOOKASSA_ENABLED switches yookassa on or off: only the platform does that"),
        (("Shop 1", "set", "yookassa", "YOOKASSA_VAT_CODE=two"),
         "yookassa: YOOKASSA_VAT_CODE takes a whole number (like its default 1), not 'two'"),
        (("Shop 1", "set", "yookassa", "YOOKASSA_SHOP_ID=1"),
         ("YOOKASSA_SHOP_ID is master-only: the user or id half of a credential (*_USER, *_USERNAME, *_LOGIN, *_EMAIL, *_ID, "
          "*_MID beside a secret of the same provider), never a tenant's")),
        (("Shop 2", "set", "yookassa", "YOOKASSA_SECRET_KEY=x"),
         "yookassa is not on for this bot: its plan or the platform turns a gateway on"),
        (("Shop 1", "set", "yookassa", SECRET), "give the setting as KEY=VALUE (KEY=- reads the value from stdin)"),
    ):
        refused("tenant", "gateway", *args, message=message)
    assert "no payment gateway on" not in ok("tenant", "gateway", "Shop 2", "show")  # card_to_card is on for starter

    async def database() -> str:
        async with open_app(settings) as opened, opened.unit_of_work() as session:
            return await dump_database(session)

    assert SECRET not in asyncio.run(database())
