"""The master bot: its row and the operator's `.env` imported as its configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.crypto import SecretBox, sha256_hex
from tenantctl.core.errors import Conflict, Invalid
from tenantctl.flags.envfile import parse_env_file
from tenantctl.flags.keys import is_sensitive_key
from tenantctl.tenants.config import plaintext_of
from tenantctl.tenants.lookup import get_master
from tenantctl.tenants.models import Bot, BotConfiguration
from tenantctl.tenants.rules import LANGUAGES
from tenantctl.tenants.schemas import bot_as_dict
from tenantctl.tenants.telegram import BotIdentity, validate_token_format


@dataclass
class MasterReport:
    bot: Bot
    created: bool
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "master": bot_as_dict(self.bot),
            "created": self.created,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "warnings": self.warnings,
        }


def master_token_from(*, token: str | None, env_path: str) -> str:
    """The master's token: MASTER_BOT_TOKEN if set, else BOT_TOKEN in the operator's `.env`."""
    if token and token.strip():
        return token.strip()
    entry = parse_env_file(env_path).entries.get("BOT_TOKEN")
    if entry is None or not (entry.value or "").strip():
        raise Invalid(f"no master bot token: set MASTER_BOT_TOKEN (or BOT_TOKEN in {env_path})")
    return entry.value.strip()


async def register_master(
    session: AsyncSession, *, token: str, env_path: str, box: SecretBox, actor: str, identity: BotIdentity | None = None
) -> MasterReport:
    """Register (or update) the master bot and import the operator's `.env` as its configuration."""
    token = validate_token_format(token)
    parsed = parse_env_file(env_path)
    fingerprint = sha256_hex(token)
    taken = await session.scalar(select(Bot).where(Bot.token_fingerprint == fingerprint, Bot.is_master.is_(False)))
    if taken is not None:
        raise Conflict(f"that token belongs to tenant bot {taken.name!r}, not to the master")
    master = await get_master(session)
    report = MasterReport(bot=master, created=master is None, warnings=[f"line {w.line}: {w.message}" for w in parsed.warnings])
    if master is None:
        master = Bot(is_master=True, name="master", status="active")
        session.add(master)
        report.bot = master
    if master.token_fingerprint != fingerprint:  # new, or the token was rotated
        master.token_encrypted, master.token_fingerprint = box.encrypt(token), fingerprint
    if identity is not None:
        master.telegram_id, master.username = identity.id, identity.username
        master.name = (identity.first_name or identity.username or "master")[:64]
    language = parsed.entries.get("DEFAULT_LANGUAGE")
    if language is not None and language.value in LANGUAGES:
        master.default_language = language.value
    await session.flush()

    existing = {
        row.config_key: row
        for row in (await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == master.id))).all()
    }
    keys = set(parsed.entries)
    for key, entry in parsed.entries.items():
        row = existing.pop(key, None)
        if row is None:
            row = BotConfiguration(bot_id=master.id, config_key=key, source="master")
            session.add(row)
            report.added.append(key)
        elif plaintext_of(row, box) != entry.value or (row.value is not None and is_sensitive_key(key, keys)):
            report.changed.append(key)
        else:
            report.unchanged += 1
            continue
        _store_value(row, key, entry.value, box, keys)
    for key, row in existing.items():
        await session.delete(row)
        report.removed.append(key)
    await session.flush()
    await record(
        session,
        actor=actor,
        action="master.init",
        entity=f"bot:{master.id}",
        bot_id=master.id,
        after={"created": report.created, "source": str(env_path), "added": report.added, "changed": report.changed, "removed": report.removed},
    )
    return report


def _store_value(row: BotConfiguration, key: str, value: str | None, box: SecretBox, keys: set[str]) -> None:
    if is_sensitive_key(key, keys):
        row.value, row.encrypted_value = None, (None if value is None else box.encrypt(value))
    else:
        row.value, row.encrypted_value = value, None
