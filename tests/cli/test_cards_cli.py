"""`tenantctl cards`: the master's (and a tenant's) payment cards, through the real Typer app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from tenantctl.cli.main import app
from tenantctl.core.app import open_app
from tenantctl.customers.cards import choose_card, count_card_use, luhn_ok
from tenantctl.tenants.lookup import get_master
from tests.tenants.test_cli import create, platform  # noqa: F401 (platform is a fixture)

runner = CliRunner()
VISA = "4111 1111 1111 1111"
MIR = "2200-0000-0000-0004"


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str, message: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1 and result.output.replace("\n", " ").strip() == f"error: {message}", result.output


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713") and not luhn_ok("4111111111111112")


def test_cards_are_added_masked_disabled_and_removed(cli_env, platform, settings) -> None:  # noqa: F811
    assert "no cards yet" in ok("cards", "list")
    assert "added card 1: •••• 1111" in ok("cards", "add", VISA, "--holder", "Ivan Petrov", "--bank", "Alfa")
    ok("cards", "add", "۲۲۰۰۰۰۰۰۰۰۰۰۰۰۰۴", "--holder", "Anna", "--weight", "3")  # Persian digits read as digits
    refused("cards", "add", "4111 1111 1111 1112", "--holder", "X", message="that card number is mistyped (its check digit is wrong)")
    refused("cards", "add", "1234", "--holder", "X", message="a card number has 13 to 19 digits")
    refused("cards", "add", VISA, "--holder", "Again", message="card •••• 1111 is already on this bot")
    listed = json.loads(ok("cards", "list", "--json"))
    assert listed["rotation"] == "round_robin"
    assert [(c["number"], c["holder"], c["weight"], c["active"]) for c in listed["cards"]] == [
        ("•••• 1111", "Ivan Petrov", 1, True), ("•••• 0004", "Anna", 3, True)]
    assert "4111" not in ok("cards", "list").replace("•••• 1111", "")
    assert "disabled" in ok("cards", "disable", "1")
    assert [c["active"] for c in json.loads(ok("cards", "list", "--json"))["cards"]] == [False, True]
    ok("cards", "enable", "1")
    refused("cards", "remove", "99", message="no card 99 on this bot")
    ok("cards", "remove", "2")
    refused("cards", "rotation", "lottery", message="unknown rotation 'lottery': use round_robin, random, weighted")
    assert "rotation: weighted" in ok("cards", "rotation", "weighted")

    # a tenant's cards are its own: the master's card ids are not found through it
    assert create(1).exit_code == 0
    refused("cards", "disable", "1", "--bot", "Shop 1", message="no card 1 on this bot")
    ok("cards", "add", MIR, "--holder", "Shop owner", "--bot", "Shop 1")
    assert [c["number"] for c in json.loads(ok("cards", "list", "--json", "--bot", "Shop 1"))["cards"]] == ["•••• 0004"]
    actions = [e["action"] for e in json.loads(ok("audit", "list", "--json"))]
    assert {"card.add", "card.disable", "card.enable", "card.remove", "card.rotation"} <= set(actions)

    ok("cards", "rotation", "round_robin")
    ok("cards", "add", MIR, "--holder", "Second")

    async def round_robin() -> list[int]:
        async with open_app(settings) as opened, opened.unit_of_work() as session:
            master = await get_master(session)
            picked = []
            for _ in range(4):  # the least used first; only a completed payment moves it back
                card = await choose_card(session, bot_id=master.id)
                picked.append(card.id)
                await count_card_use(session, bot_id=master.id, card_id=card.id)
            return picked

    picked = asyncio.run(round_robin())
    assert len(set(picked)) == 2 and picked[:2] == picked[2:]
