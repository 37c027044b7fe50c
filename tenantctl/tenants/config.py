"""A tenant's configuration: the snapshot clone of the master's, without master-only or secret keys (`flags/keys.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.crypto import SecretBox
from tenantctl.core.errors import Invalid, NotFound
from tenantctl.flags.keys import exclusion_reason, master_only_family
from tenantctl.tenants.lookup import get_master
from tenantctl.tenants.models import Bot, BotConfiguration

# Config keys a tenant gets from its own registration, never from the master:
# BOT_NAME (the name given at creation), BOT_USERNAME (from getMe; None offline),
# DEFAULT_LANGUAGE (--language) and SUPPORT_USERNAME (--support; None if not given).
TENANT_DEFAULT_KEYS = ("BOT_NAME", "BOT_USERNAME", "DEFAULT_LANGUAGE", "SUPPORT_USERNAME")


def plaintext_of(row: BotConfiguration, box: SecretBox) -> Any:
    """A configuration row's value, decrypted if it is stored encrypted."""
    if row.encrypted_value is not None:
        return box.decrypt(row.encrypted_value)
    return row.value


@dataclass
class CloneReport:
    copied: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    kept_tenant_edited: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "copied": self.copied,
            "excluded": self.excluded,
            "kept_tenant_edited": self.kept_tenant_edited,
            "defaults": self.defaults,
            "removed": self.removed,
            "shared": self.shared,
            "dry_run": self.dry_run,
        }


def tenant_defaults(bot: Bot) -> dict[str, Any]:
    """The tenant-specific configuration values (see TENANT_DEFAULT_KEYS)."""
    return {
        "BOT_NAME": bot.name,
        "BOT_USERNAME": bot.username,
        "DEFAULT_LANGUAGE": bot.default_language,
        "SUPPORT_USERNAME": bot.support_username,
    }


async def clone_master_config_to_tenant(
    session: AsyncSession,
    *,
    tenant_bot_id: int,
    actor: str,
    master_bot_id: int | None = None,
    share_keys: Iterable[str] = (),
    dry_run: bool = False,
) -> CloneReport:
    """Snapshot-copy the master's configuration to a tenant, without master-only or unshared secret keys.

    Rows the tenant edited (source 'tenant') are kept; earlier cloned rows that the new snapshot
    no longer has are removed. With dry_run nothing is written.
    """
    tenant = await session.get(Bot, tenant_bot_id)
    if tenant is None or tenant.is_master:
        raise NotFound(f"no tenant bot with id {tenant_bot_id}")
    master = await session.get(Bot, master_bot_id) if master_bot_id is not None else await get_master(session)
    if master is None or not master.is_master:
        raise NotFound("no master bot: run `tenantctl master init` first")
    master_rows = await _config_rows(session, master.id)
    share = _check_share_keys(share_keys, master_rows)
    tenant_rows = await _config_rows(session, tenant.id)
    edited = {key for key, row in tenant_rows.items() if row.source == "tenant"}
    report = CloneReport(dry_run=dry_run, shared=share)
    wanted: dict[str, tuple[Any, str | None]] = {}
    for key, row in sorted(master_rows.items()):
        if key in TENANT_DEFAULT_KEYS:
            continue
        reason = exclusion_reason(key, share, master_rows)
        if reason:
            report.excluded[key] = reason
        elif key in edited:
            report.kept_tenant_edited.append(key)
        else:
            wanted[key] = (row.value, row.encrypted_value)
            report.copied.append(key)
    for key, value in tenant_defaults(tenant).items():
        if key in edited:
            report.kept_tenant_edited.append(key)
        else:
            wanted[key] = (value, None)
            report.defaults[key] = value
    report.removed = sorted(key for key, row in tenant_rows.items() if row.source == "cloned" and key not in wanted)
    if dry_run:
        return report
    for key, (value, encrypted) in wanted.items():
        row = tenant_rows.get(key)
        if row is None:
            row = BotConfiguration(bot_id=tenant.id, config_key=key)
            session.add(row)
        row.value, row.encrypted_value, row.source = value, encrypted, "cloned"
    for key in report.removed:
        await session.delete(tenant_rows[key])
    await session.flush()
    await record(
        session,
        actor=actor,
        action="tenant.clone_config",
        entity=f"bot:{tenant.id}",
        bot_id=tenant.id,
        after={"copied": len(report.copied), "excluded": sorted(report.excluded), "shared": share,
               "kept_tenant_edited": report.kept_tenant_edited, "removed": report.removed},
    )
    return report


def _check_share_keys(share_keys: Iterable[str], master_keys: Iterable[str]) -> list[str]:
    """The keys to share, sorted; Invalid for a key the master lacks or a master-only one (never shared)."""
    share, known = sorted({key.strip() for key in share_keys if key.strip()}), set(master_keys)
    for key in share:
        if key not in known:
            raise Invalid(f"--share {key}: the master has no configuration key {key}")
        if family := master_only_family(key, known):
            raise Invalid(f"--share {key}: {family.reason}, never shared")
    return share


async def _config_rows(session: AsyncSession, bot_id: int) -> dict[str, BotConfiguration]:
    rows = await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == bot_id))
    return {row.config_key: row for row in rows.all()}
