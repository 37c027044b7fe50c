"""Key rotation: every secret at rest re-encrypted under a new key, in the caller's one transaction.

It lives in onboarding because onboarding is the lowest domain that sees every encrypted column
(the bots' tokens and secret configuration values in `tenants`, and the registration drafts'
tokens here) without importing upward. Webhook secrets are derived from the key, so they rotate
with it and need no rewriting.
"""

from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.crypto import SecretBox
from tenantctl.core.errors import ConfigError, Invalid
from tenantctl.core.models import KeyVerifier
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.tenants.models import Bot, BotConfiguration

ENCRYPTED_COLUMNS = (Bot.token_encrypted, BotConfiguration.encrypted_value, TenantRegistration.token_encrypted)


async def rotate_secret_key(session: AsyncSession, *, old: SecretBox, new: SecretBox, actor: str) -> dict[str, int]:
    """Re-encrypt every secret and the key verifier from `old` to `new`; the count per column.

    A value that `old` cannot decrypt refuses the whole rotation (ConfigError naming the rows).
    """
    if new.verifier() == old.verifier():
        raise Invalid("the new key is the current key: make a new one with `tenantctl db keygen`")
    verifier = await session.get(KeyVerifier, 1, with_for_update=True)  # pinned when the app opened
    counts: dict[str, int] = {}
    unreadable: list[str] = []
    for column in ENCRYPTED_COLUMNS:
        model, name = column.class_, f"{column.class_.__tablename__}.{column.key}"
        rows = (await session.scalars(select(model).where(column.is_not(None)).with_for_update())).all()
        for row in rows:
            try:
                setattr(row, column.key, new.encrypt(old.decrypt(getattr(row, column.key))))
            except ConfigError:
                unreadable.append(f"{name} of {'/'.join(map(str, inspect(row).identity))}")
        counts[name] = len(rows)
    if unreadable:
        raise ConfigError(f"{old.source} cannot decrypt {', '.join(unreadable)}: nothing was changed (fix or delete those rows first)")
    verifier.verifier = new.verifier()
    await record(session, actor=actor, action="db.rotate_key", entity="key_verifier", after={"reencrypted": counts})
    return counts
