"""Issue 11 through the real Typer app: seed reports, master-only refusals, archived plans, expiry offsets."""

from __future__ import annotations

import json

from tests.cli.test_flags_plans_cli import tc
from tests.flags.test_fixtures import BEDOLAGA, fixtures_dir
from tests.tenants.test_cli import create, ok, platform, refused  # noqa: F401 (platform is a fixture)


def test_seed_says_what_it_added_and_master_only_is_marked_and_refused(cli_env, tmp_path) -> None:
    env_dir = fixtures_dir()
    assert env_dir is not None, "shared .env fixtures not found"
    assert tc("flags", "sync", str(env_dir / BEDOLAGA)).exit_code == 0
    seeded = json.loads(tc("plans", "seed", "--json").stdout)
    assert seeded["created"] == ["starter", "growth", "enterprise"] and "starter/card_to_card" in seeded["skipped_features"]
    assert tc("plans", "grant", "growth", "yookassa", "--off").exit_code == 0
    extra = tmp_path / "later.env"
    extra.write_text((env_dir / BEDOLAGA).read_text(encoding="utf-8") + "\nC2C_ENABLED=false\nZARINPAL_ENABLED=false\n", encoding="utf-8")
    assert tc("flags", "sync", str(extra)).exit_code == 0
    again = tc("plans", "seed")
    assert again.exit_code == 0, again.output
    text = again.output.replace("\n", " ")
    assert "added to starter: card_to_card, zarinpal" in text and "left alone growth" in text

    shown = tc("flags", "show", "backup_auto")
    assert "master-only" in shown.output
    assert json.loads(tc("flags", "show", "backup_auto", "--json").stdout)["master_only"] is True
    refused_grant = tc("plans", "grant", "enterprise", "maintenance")
    assert refused_grant.exit_code == 1 and "maintenance is master-only" in refused_grant.output
    assert len(refused_grant.output.strip().splitlines()) <= 2


def test_archived_plan_expiry_offset_and_off_value(cli_env, platform) -> None:  # noqa: F811
    assert create(1).exit_code == 0
    refused("tenant", "set-plan", "Shop 1", "legacy", message="plan 'legacy' is archived")
    set_ = ok("tenant", "override", "Shop 1", "yookassa", "--on", "--expires", "2099-01-01T10:00+03:30", "--reason", "trial")
    assert "until 2099-01-01 06:30 UTC" in set_.output
    audit = json.loads(tc("audit", "list", "--json").stdout)
    assert next(e for e in audit if e["action"] == "override.set")["after"]["expires_at"].startswith("2099-01-01T06:30:00")
