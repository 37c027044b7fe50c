"""A command run with another key refuses before writing (exit 2, one line, never the key), and
`tenantctl db rotate-key` re-encrypts every secret in one transaction; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from tenantctl.audit.models import AuditEntry
from tenantctl.cli.main import app
from tenantctl.core.app import open_app
from tenantctl.core.crypto import SecretBox, sha256_hex
from tenantctl.core.settings import Settings
from tenantctl.onboarding.keys import ENCRYPTED_COLUMNS
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.models import metadata
from tenantctl.tenants.models import Bot
from tenantctl.tenants.service import provision_tenant
from tests.conftest import TEST_SECRET_KEY
from tests.tenants.support import MASTER_SECRETS, MASTER_TOKEN, count_rows, setup_platform, tenant_token, write_env

runner = CliRunner()
OTHER_KEY = SecretBox.generate_key()


def invoke(*args: str, key: str = TEST_SECRET_KEY):
    return runner.invoke(app, list(args), env={"TENANTCTL_SECRET_KEY": key})


def one_line_error(result, code: int, *expected: str) -> str:
    assert result.exit_code == code, result.output
    text = result.output.strip()
    assert len(text.splitlines()) == 1 and "Traceback" not in text, text
    for part in expected:
        assert part in text, text
    assert TEST_SECRET_KEY not in text and OTHER_KEY not in text
    return text


async def _populate(settings: Settings, tmp_path: Path) -> None:
    async with open_app(settings) as opened, opened.unit_of_work() as session:
        box = opened.secret_box
        await setup_platform(session, box, write_env(tmp_path))
        await provision_tenant(session, name="Shop", token=tenant_token(1), owner_telegram_id=501, plan="starter", box=box,
                               actor="test", identity=None, share_keys=["YOOKASSA_SECRET_KEY"])
        session.add(TenantRegistration(telegram_user_id=77, status="awaiting_payment", bot_name="Draft",
                                       token_encrypted=box.encrypt(tenant_token(2)), token_fingerprint=sha256_hex(tenant_token(2))))


async def _stored(settings: Settings) -> dict[tuple[str, str], str]:
    """Every encrypted value, by column and row."""
    async with open_app(settings) as opened, opened.unit_of_work() as session:
        stored = {}
        for column in ENCRYPTED_COLUMNS:
            for row in (await session.scalars(select(column.class_).where(column.is_not(None)))).all():
                key = "/".join(str(getattr(row, c.key)) for c in column.class_.__table__.primary_key.columns)
                stored[(column.class_.__tablename__, key)] = getattr(row, column.key)
        return stored


def _decrypted(stored: dict[tuple[str, str], str], key: str) -> dict[tuple[str, str], str]:
    box = SecretBox(key)
    return {where: box.decrypt(value) for where, value in stored.items()}


def test_every_encrypted_column_is_rotated() -> None:
    encrypted = {f"{t.name}.{c.name}" for t in metadata.tables.values() for c in t.columns if "encrypted" in c.name}
    assert encrypted == {f"{c.class_.__tablename__}.{c.key}" for c in ENCRYPTED_COLUMNS}


def test_another_key_is_refused_before_anything_is_written(cli_env, settings) -> None:
    assert invoke("plans", "list").exit_code == 0  # the first use pins the key
    before = asyncio.run(_rows(settings))
    one_line_error(invoke("plans", "seed", key=OTHER_KEY), 2, "TENANTCTL_SECRET_KEY does not match this database's key",
                   "nothing was written")
    assert asyncio.run(_rows(settings)) == before
    assert invoke("plans", "seed").exit_code == 0  # the right key writes


async def _rows(settings: Settings) -> dict[str, int]:
    async with open_app(settings) as opened, opened.unit_of_work() as session:
        return await count_rows(session)


def test_rotate_key_re_encrypts_every_secret_and_the_old_key_stops_working(cli_env, settings, tmp_path) -> None:
    asyncio.run(_populate(settings, tmp_path))
    before = asyncio.run(_stored(settings))
    plaintext = _decrypted(before, TEST_SECRET_KEY)
    assert {("bots", "2"), ("bot_configurations", "2/YOOKASSA_SECRET_KEY"), ("tenant_registrations", "1")} <= set(before)
    assert MASTER_TOKEN in plaintext.values() and tenant_token(2) in plaintext.values()
    assert MASTER_SECRETS["YOOKASSA_SECRET_KEY"] in plaintext.values()
    new_key = SecretBox.generate_key()
    key_file = tmp_path / "new.key"
    key_file.write_text(new_key + "\n")

    result = invoke("db", "rotate-key", "--new-key-file", str(key_file))
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    counts = {"bots": 2, "configs": sum(where[0] == "bot_configurations" for where in before), "drafts": 1}
    assert (f"bots.token_encrypted: {counts['bots']}, bot_configurations.encrypted_value: {counts['configs']}, "
            f"tenant_registrations.token_encrypted: {counts['drafts']} re-encrypted") in out
    assert f"now replace TENANTCTL_SECRET_KEY with the key in {key_file}" in out
    assert new_key not in result.output and TEST_SECRET_KEY not in result.output

    after = asyncio.run(_stored(dataclasses.replace(settings, secret_key=new_key)))
    assert after.keys() == before.keys() and not set(after.values()) & set(before.values())
    assert _decrypted(after, new_key) == plaintext
    one_line_error(invoke("tenant", "list"), 2, "TENANTCTL_SECRET_KEY does not match")
    assert invoke("tenant", "list", key=new_key).exit_code == 0

    async def audited() -> list[str]:
        async with open_app(dataclasses.replace(settings, secret_key=new_key)) as opened, opened.unit_of_work() as session:
            return (await session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "key_verifier"))).all()

    assert asyncio.run(audited()) == ["db.rotate_key"]


def test_rotate_key_changes_nothing_when_a_secret_cannot_be_read(cli_env, settings, tmp_path) -> None:
    asyncio.run(_populate(settings, tmp_path))

    async def break_one() -> int:
        async with open_app(settings) as opened, opened.unit_of_work() as session:
            bot = await session.scalar(select(Bot).where(Bot.name == "Shop"))
            bot.token_encrypted = SecretBox(SecretBox.generate_key()).encrypt(tenant_token(1))
            return bot.id

    broken = asyncio.run(break_one())
    before = asyncio.run(_stored(settings))
    key_file = tmp_path / "new.key"
    key_file.write_text(SecretBox.generate_key())
    one_line_error(invoke("db", "rotate-key", "--new-key-file", str(key_file)), 2,
                   f"TENANTCTL_SECRET_KEY cannot decrypt bots.token_encrypted of {broken}", "nothing was changed")
    assert asyncio.run(_stored(settings)) == before
    assert invoke("tenant", "list").exit_code == 0  # the old key still opens the database


def test_rotate_key_refuses_a_bad_new_key(cli_env, tmp_path) -> None:
    one_line_error(invoke("db", "rotate-key", "--new-key-file", str(tmp_path / "missing.key")), 2, "cannot read")
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    one_line_error(invoke("db", "rotate-key", "--new-key-file", str(bad)), 2, f"the key file {bad} is not a valid key")
    same = tmp_path / "same.key"
    same.write_text(TEST_SECRET_KEY)
    one_line_error(invoke("db", "rotate-key", "--new-key-file", str(same)), 1, "the new key is the current key")
