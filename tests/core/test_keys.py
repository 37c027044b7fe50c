"""The key verifier: a database is pinned to the first key that opens it, and another key is refused
before anything is written; webhook secrets are derived from the key, never stored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import select

from tenantctl.core.app import App, open_app
from tenantctl.core.crypto import SecretBox
from tenantctl.core.errors import ConfigError
from tenantctl.core.models import KeyVerifier
from tenantctl.core.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.tenants.support import count_rows

OTHER_KEY = SecretBox.generate_key()


def test_webhook_secrets_and_the_verifier_are_derived_from_the_key() -> None:
    box, same, other = SecretBox(TEST_SECRET_KEY), SecretBox(TEST_SECRET_KEY), SecretBox(OTHER_KEY)
    assert box.webhook_secret(1) == same.webhook_secret(1) != box.webhook_secret(2)
    assert box.webhook_secret(1) != other.webhook_secret(1)
    assert len(box.webhook_secret(1)) == 64 and box.webhook_secret(1).isalnum()  # Telegram allows A-Z a-z 0-9 _ -
    assert box.verifier() == same.verifier() != other.verifier()
    assert TEST_SECRET_KEY not in box.verifier() + box.webhook_secret(1)


async def test_first_open_pins_the_key_and_another_key_is_refused_before_any_write(settings: Settings) -> None:
    app = await App.open(settings)
    try:
        async with app.unit_of_work() as session:
            assert (await session.get(KeyVerifier, 1)).verifier == app.secret_box.verifier()
            before = await count_rows(session)
    finally:
        await app.close()

    with pytest.raises(ConfigError) as refused:
        await App.open(dataclasses.replace(settings, secret_key=OTHER_KEY))
    message = str(refused.value)
    assert message.startswith("TENANTCTL_SECRET_KEY does not match this database's key") and "\n" not in message
    assert OTHER_KEY not in message and TEST_SECRET_KEY not in message

    async with open_app(settings) as again:
        async with again.unit_of_work() as session:
            assert await count_rows(session) == before
            assert (await session.scalars(select(KeyVerifier.verifier))).all() == [SecretBox(TEST_SECRET_KEY).verifier()]


async def test_a_sqlite_key_file_is_pinned_too(tmp_path: Path, sqlite_template: Path) -> None:
    database = tmp_path / "db.sqlite"
    database.write_bytes(sqlite_template.read_bytes())
    key_file = tmp_path / "keys" / "secret.key"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{database}", key_file=str(key_file))
    app = await App.open(settings)  # no key configured: one is generated and pinned
    await app.close()
    assert key_file.is_file() and app.notices == [f"generated a new encryption key in {key_file} (mode 0600): back it up"]

    key_file.write_text(OTHER_KEY + "\n")
    with pytest.raises(ConfigError, match=f"^the key file {key_file} does not match this database's key"):
        await App.open(settings)

    key_file.unlink()  # a lost key file is not silently replaced by a new key
    with pytest.raises(ConfigError, match="key file .* is missing, but this database's secrets were written with a key"):
        await App.open(settings)
    assert not key_file.exists()

