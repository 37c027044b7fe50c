"""What cloning copies: exactly the reviewed allow-list from both upstream .env files; --share never lifts a family."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tenantctl.core.errors import Invalid
from tenantctl.flags.envfile import parse_env_file
from tenantctl.tenants.config import TENANT_DEFAULT_KEYS, clone_master_config_to_tenant
from tenantctl.tenants.models import BotConfiguration
from tenantctl.tenants.service import provision_tenant
from tests.tenants.support import MASTER_ENV, NOW, find_fixture_env_dir, setup_platform, tenant_token, write_env

FIXTURES = ["bedolaga-4.1.0.env.example", "remnabot-fork.env.example"]
ALLOW_LIST = Path(__file__).parent / "data" / "cloned_keys.txt"


def allow_list() -> list[str]:
    """The reviewed keys, in file order; `# ...` comments are the review notes."""
    lines = (line.split("#", 1)[0].strip() for line in ALLOW_LIST.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def fixture_path(name: str) -> Path:
    directory = find_fixture_env_dir()
    if directory is None or not (directory / name).is_file():
        pytest.skip(f"fixture {name} not found: set TENANTCTL_FIXTURES_DIR or keep shared/fixtures/env above the repo")
    return directory / name


async def provision(session, app, share_keys=()):
    return await provision_tenant(
        session, name="Reseller", token=tenant_token(1), owner_telegram_id=501, plan="starter", box=app.secret_box,
        actor="test", identity=None, share_keys=share_keys, now=NOW,
    )


@pytest.mark.parametrize("fixture", FIXTURES)
async def test_cloning_a_real_env_file_copies_exactly_the_reviewed_allow_list(app, fixture) -> None:
    path = fixture_path(fixture)
    master_keys = set(parse_env_file(path).entries)
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, str(path))
        result = await provision(session, app)
        rows = (await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == result.bot.id))).all()
    report = result.clone_report
    expected = sorted(set(allow_list()) & master_keys)
    assert sorted(set(report.copied) - set(expected)) == []  # nothing unreviewed reaches a tenant
    assert report.copied == expected  # and nothing reviewed is lost
    assert {row.config_key for row in rows} == set(expected) | set(TENANT_DEFAULT_KEYS)
    assert set(report.excluded) == master_keys - set(expected) - set(TENANT_DEFAULT_KEYS)
    assert all(reason.startswith(("master-only: ", "secret-looking (")) for reason in report.excluded.values())
    for key in ("REMNAWAVE_AUTH_TYPE", "REMNAWAVE_USER_DELETE_MODE", "REMNAWAVE_WEBHOOK_PATH", "ADMIN_NOTIFICATIONS_CHAT_ID",
                "BACKUP_SEND_CHAT_ID", "LOG_ROTATION_CHAT_ID", "NALOGO_INN", "SMTP_USER", "SMTP_HOST", "YOOKASSA_SHOP_ID",
                "SERVER_STATUS_METRICS_USERNAME", "PLATEGA_MERCHANT_ID", "APPLE_IAP_KEY_ID", "APPLE_IAP_ISSUER_ID"):
        assert report.excluded[key].startswith("master-only: "), key  # the examples, in both files


def test_the_allow_list_is_sorted_unique_and_every_key_is_in_a_fixture() -> None:
    keys = allow_list()
    assert keys == sorted(set(keys))
    in_fixtures = set().union(*(parse_env_file(fixture_path(name)).entries for name in FIXTURES))
    assert sorted(set(keys) - in_fixtures) == []  # no stale entries
    assert set(keys).isdisjoint(TENANT_DEFAULT_KEYS)


PANEL_SECRETS = "REMNAWAVE_CADDY_TOKEN=caddy-token-value-41d0\nREMNAWAVE_WEBHOOK_SECRET=rw-webhook-secret-value-8e27\n"


@pytest.mark.parametrize(
    ("key", "family"),
    [
        ("REMNAWAVE_CADDY_TOKEN", "REMNAWAVE_* (the operator's panel)"),
        ("REMNAWAVE_WEBHOOK_SECRET", "REMNAWAVE_* (the operator's panel)"),
        ("YOOKASSA_SHOP_ID", "the user or id half of a credential ("),
    ],
)
async def test_share_refuses_a_master_only_family_in_the_service(app, tmp_path, key, family) -> None:
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path, MASTER_ENV + PANEL_SECRETS))
    with pytest.raises(Invalid) as refused:
        async with app.unit_of_work() as session:
            await provision(session, app, share_keys=[key])
    assert str(refused.value).startswith(f"--share {key}: master-only: {family}") and str(refused.value).endswith(", never shared")
    async with app.unit_of_work() as session:
        bot_id = (await provision(session, app, share_keys=["YOOKASSA_SECRET_KEY"])).bot.id  # a secret-looking key may be shared
    with pytest.raises(Invalid, match=f"--share {key}: master-only: "):
        async with app.unit_of_work() as session:
            await clone_master_config_to_tenant(session, tenant_bot_id=bot_id, share_keys=[key], actor="test")
    async with app.unit_of_work() as session:
        rows = {r.config_key for r in (await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == bot_id))).all()}
    assert "YOOKASSA_SECRET_KEY" in rows and key not in rows
