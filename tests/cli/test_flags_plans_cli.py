"""`tenantctl flags`, `plans` and `audit` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tenantctl.cli.main import app
from tenantctl.demo.service import EXAMPLE_ENV
from tenantctl.plans.service import DEFAULT_SEED_PATH

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def tc(*args: str):
    result = runner.invoke(app, list(args))
    return result


def test_extract_sync_seed_grant_and_audit(cli_env, tmp_path) -> None:
    env_example = str(EXAMPLE_ENV)
    extracted = tc("flags", "extract", env_example, "--json")
    assert extracted.exit_code == 0, extracted.output
    data = json.loads(extracted.stdout)
    assert {"features", "master_only", "warnings"} <= set(data)
    keys = {f["key"] for f in data["features"]}
    design = {"yookassa", "cryptobot", "pal24", "mulenpay", "platega", "heleket", "tribute", "telegram_stars",
              "card_to_card", "zarinpal", "trial_subscription", "referral_program", "auto_renewal",
              "simple_purchase", "support_tickets", "mini_app", "server_status", "monitoring", "polls", "campaigns"}
    assert design <= keys

    first = tc("flags", "sync", env_example)
    assert first.exit_code == 0 and "20 added" in " ".join(first.output.split())
    again = tc("flags", "sync", env_example)
    assert again.exit_code == 0 and "0 added, 0 changed, 0 absent" in " ".join(again.output.split())

    seeded = tc("plans", "seed", "--file", str(DEFAULT_SEED_PATH))
    assert seeded.exit_code == 0 and "created: starter, growth, enterprise" in seeded.output
    assert "unchanged: starter, growth, enterprise" in tc("plans", "seed", "--file", str(DEFAULT_SEED_PATH)).output

    granted = tc("plans", "grant", "growth", "yookassa", "--set", "YOOKASSA_SBP_ENABLED=true")
    assert granted.exit_code == 0, granted.output
    matrix = json.loads(tc("plans", "grants", "--json").stdout)
    row = next(f for f in matrix["features"] if f["key"] == "yookassa")
    assert row["grants"]["growth"]["config"] == {"YOOKASSA_SBP_ENABLED": True}
    assert row["grants"]["enterprise"]["implicit"] is True and row["grants"]["starter"] is None

    assert tc("plans", "revoke", "growth", "yookassa").exit_code == 0
    shown = json.loads(tc("plans", "show", "growth", "--json").stdout)
    assert "yookassa" not in shown["grants"] and shown["monthly_price_kopeks"] == 1000000

    audit = json.loads(tc("audit", "list", "--json").stdout)
    assert [e["action"] for e in audit][:2] == ["grant.revoke", "grant.set"]
    assert all(e["actor"].startswith("cli:") for e in audit)


def test_plan_money_and_errors(cli_env) -> None:
    created = tc("plans", "create", "pro", "--price", "7 500,50 RUB", "--activation-fee", "1000")
    assert created.exit_code == 0, created.output
    listed = json.loads(tc("plans", "list", "--json").stdout)
    assert listed[0]["monthly_price_kopeks"] == 750050 and listed[0]["activation_fee_kopeks"] == 100000
    assert "7 500.50 RUB" in tc("plans", "list").output

    cases = [
        (("plans", "create", "pro", "--price", "1"), "exists already"),
        (("plans", "create", "x", "--price", "ten"), "not an amount"),
        (("plans", "edit", "pro"), "nothing to change"),
        (("plans", "show", "prp"), "did you mean pro"),
        (("plans", "grant", "pro", "yookassa"), "catalogue is empty"),
        (("plans", "grant", "pro", "yookassa", "--config", "{bad"), "not valid JSON"),
        (("plans", "seed", "--file", "missing.yaml"), "cannot read missing.yaml"),
        (("flags", "extract", "missing.env"), "missing.env"),
        (("audit", "list", "--since", "yesterday"), "not a date"),
    ]
    for args, message in cases:
        result = tc(*args)
        assert result.exit_code != 0, args
        assert message in " ".join(result.output.split()), (args, result.output)
        assert "Traceback" not in result.output

    assert tc("plans", "archive", "pro").exit_code == 0
    assert json.loads(tc("plans", "list", "--json").stdout)[0]["is_active"] is False


def test_strict_extract_fails_on_warnings(cli_env, tmp_path) -> None:
    messy = tmp_path / "messy.env"
    messy.write_text("YOOKASSA_ENABLED=true\nthis line is broken\nYOOKASSA_ENABLED=false\n", encoding="utf-8")
    lenient = tc("flags", "extract", str(messy), "--json")
    assert lenient.exit_code == 0
    warnings = json.loads(lenient.stdout)["warnings"]
    assert {w["line"] for w in warnings} >= {2, 3}
    strict = tc("flags", "extract", str(messy), "--strict")
    assert strict.exit_code == 1 and "--strict" in strict.output


def test_rollouts_and_usage_through_the_cli(cli_env, settings) -> None:
    import asyncio

    from tenantctl.core.app import App
    from tenantctl.flags.usage import record_usage
    from tenantctl.plans.effective import recompute_flags
    from tenantctl.plans.service import get_plan
    from tests.factories import tenants

    assert tc("flags", "sync", str(EXAMPLE_ENV)).exit_code == 0
    assert tc("plans", "seed", "--file", str(DEFAULT_SEED_PATH)).exit_code == 0

    async def a_tenant() -> int:
        app = await App.open(settings)
        try:
            async with app.unit_of_work() as s:
                (bot_id,) = await tenants(s, (await get_plan(s, "growth")).id, 1)
                await recompute_flags(s)
                await record_usage(s, counts={(bot_id, "yookassa", "on"): 3}, day=__import__("datetime").date(2026, 5, 1))
            return bot_id
        finally:
            await app.close()

    bot_id = asyncio.run(a_tenant())
    granted = tc("plans", "grant", "growth", "yookassa", "--rollout", "25", "--rollout-by", "user")
    assert granted.exit_code == 0 and "yookassa on for 25% by user" in granted.output
    shown = json.loads(tc("plans", "show", "growth", "--json").stdout)
    assert (shown["grants"]["yookassa"]["rollout_percent"], shown["grants"]["yookassa"]["rollout_by"]) == (25, "user")
    wrong = tc("plans", "grant", "growth", "yookassa", "--rollout", "25", "--rollout-by", "session")
    assert wrong.exit_code != 0 and len(wrong.output.strip().splitlines()) == 1

    overridden = tc("tenant", "override", str(bot_id), "trial_subscription", "--on", "--rollout", "40", "--reason", "a/b")
    assert overridden.exit_code == 0 and "for 40% by tenant" in overridden.output
    rows = {r["key"]: r for r in json.loads(tc("tenant", "features", str(bot_id), "--json").stdout)}
    assert rows["yookassa"]["plan_rollout"] == {"percent": 25, "by": "user", "in": None}
    assert rows["trial_subscription"]["override_rollout"]["percent"] == 40
    table = tc("tenant", "features", str(bot_id))
    assert table.exit_code == 0 and "(25%" in table.output

    usage = json.loads(tc("flags", "usage", "--bot", str(bot_id), "--json").stdout)
    assert [(u["feature_key"], u["result"], u["count"]) for u in usage] == [("yookassa", "on", 3)]
    assert json.loads(tc("flags", "usage", "--since", "2026-05-02", "--json").stdout) == []
    assert "yookassa" in tc("flags", "usage").output
    bad = tc("flags", "usage", "--since", "May")
    assert bad.exit_code != 0 and "not a date" in bad.output
