"""The one classification of configuration keys: secret-looking, and master-only by family.

- Secret-looking (`*_TOKEN`, `*_PASSWORD`, `*_API_KEY` at the end, `SECRET`/`PRIVATE` as a word
  anywhere): stored encrypted on the master, its value never read into the catalogue, and copied
  to a tenant only when the master shares it (`--share KEY`).
- Master-only: the operator's own keys, in the families below. They never enter a feature's
  config, are never copied to a tenant and can never be shared. An exclusion reason names the family.
Keys are compared upper-cased, as the bots' settings read them case-insensitively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Collection, Iterable

_SECRET = re.compile(r"(?:^|_)(?:TOKEN|PASSWORD|API_KEY)$|(?:^|_)(?:SECRETS?|PRIVATE)(?:_|$)")


@dataclass(frozen=True)
class Family:
    """A family of master-only keys: its name, what its keys are, and the pattern they fully match."""

    name: str
    what: str
    pattern: re.Pattern[str]

    @property
    def reason(self) -> str:
        return f"master-only: {self.name} ({self.what})"


def _family(name: str, what: str, pattern: str) -> Family:
    return Family(name, what, re.compile(pattern))


# tenantctl's own settings (core/settings.py, the README's settings table): the platform's, never a bot's.
PLATFORM_SETTING_KEYS = frozenset({
    "DATABASE_URL", "TENANTCTL_SECRET_KEY", "TENANTCTL_KEY_FILE", "MASTER_BOT_TOKEN", "MASTER_ADMIN_IDS",
    "TELEGRAM_API_SERVER", "REDIS_URL", "ENV_EXAMPLE_PATH", "STARS_RATE_KOPEKS", "GRACE_PERIOD_DAYS", "RENEWAL_NOTICE_DAYS",
})

# In order, prefixes first: a key takes the first family it matches (C2C_ADMIN_CHAT_ID is C2C_ADMIN_*).
# the operator's VPN panel, as its `.env` names it (master-only: the REMNAWAVE_* family below)
PANEL_URL_KEY, PANEL_API_KEY_KEY, PANEL_AUTH_TYPE_KEY = "REMNAWAVE_API_URL", "REMNAWAVE_API_KEY", "REMNAWAVE_AUTH_TYPE"
PANEL_SQUADS_KEY = "SIMPLE_SUBSCRIPTION_SQUAD_UUID"  # the internal squad(s) a new panel user joins; empty: every squad

MASTER_ONLY_FAMILIES = (
    _family("REMNAWAVE_*", "the operator's panel", r"REMNAWAVE_\w+"),
    _family("ADMIN_*", "the operator's admins and admin chats", r"ADMIN_\w+"),
    _family("BACKUP_*", "the operator's backups", r"BACKUP_\w+"),
    _family("LOG_ROTATION_*", "the operator's logs", r"LOG_ROTATION_\w+"),
    _family("C2C_CARDS, C2C_ADMIN_*", "the operator's own cards and their review chat", r"C2C_CARDS|C2C_ADMIN_\w+"),
    _family("NALOGO_*", "the operator's tax registration", r"NALOGO_\w+"),
    _family("SMTP_*", "the operator's mail server", r"SMTP_\w+"),
    _family("DATABASE_*, POSTGRES_*, SQLITE_*, REDIS_*", "the master's database and Redis", r"(?:DATABASE|POSTGRES|SQLITE|REDIS)_\w+"),
    _family("*_CHAT_ID, *_TOPIC_ID", "the operator's chats and their topics", r"\w+_(?:CHAT|TOPIC)_ID"),
    _family("BOT_TOKEN", "the master bot's token; a tenant has its own", r"BOT_TOKEN"),
    _family("tenantctl's settings", "the platform's own, see the README's settings table",
            r"TENANTCTL_\w+|" + "|".join(sorted(PLATFORM_SETTING_KEYS))),
)

# Operations switches outside those families: the operator runs them for the platform, so the
# catalogue marks their features master-only (never granted, never overridden for a tenant).
OPERATIONS_SWITCHES = frozenset({
    "MAINTENANCE_MODE",  # the platform's maintenance window
    "TRAFFIC_FAST_CHECK_ENABLED", "TRAFFIC_DAILY_CHECK_ENABLED", "BLACKLIST_CHECK_ENABLED",  # the panel's traffic monitoring
    "VERSION_CHECK_ENABLED",  # update checks of the bot's code
    "WEB_API_ENABLED",  # the process's own web server (host, port, workers)
})

# A key whose last word names an account (USER, USERNAME, LOGIN, EMAIL, ID or MID, so `*_SHOP_ID`,
# `*_KEY_ID`, `*_MERCHANT_ID` too) is the user or id half of a credential pair when a secret-looking
# key starts with the same first word, the provider (`YOOKASSA_SHOP_ID` beside `YOOKASSA_SECRET_KEY`).
CREDENTIAL_HALF = _family(
    "the user or id half of a credential", "*_USER, *_USERNAME, *_LOGIN, *_EMAIL, *_ID, *_MID beside a secret of the same provider",
    r"(?P<provider>[A-Z0-9]+)_(?:\w+_)?(?:USER|USERNAME|LOGIN|EMAIL|ID|MID)",
)


def is_secret_key(key: str) -> bool:
    """`*_TOKEN`, `*_PASSWORD`, `*_API_KEY` at the end, `SECRET`/`PRIVATE` as a word anywhere.

    Words are `_`-separated, so `CABINET_ACCESS_TOKEN_EXPIRE_MINUTES` is not a secret while
    `APPLE_IAP_PRIVATE_KEY_PATH` is (as the `*_PRIVATE*` rule says; a key path is sensitive).
    """
    return bool(_SECRET.search(key.upper()))


def master_only_family(key: str, keys: Collection[str] = ()) -> Family | None:
    """The master-only family of a key, or None; `keys` (its file's keys) reveal a credential's user or id half."""
    key = key.upper()
    for family in MASTER_ONLY_FAMILIES:
        if family.pattern.fullmatch(key):
            return family
    half = CREDENTIAL_HALF.pattern.fullmatch(key)
    if half and any(k.upper().startswith(half["provider"] + "_") and k.upper() != key and is_secret_key(k) for k in keys):
        return CREDENTIAL_HALF
    return None


def is_master_only(key: str, keys: Collection[str] = ()) -> bool:
    """Whether a key is the operator's own, never copied to a tenant (see `master_only_family`)."""
    return master_only_family(key, keys) is not None


def is_sensitive_key(key: str, keys: Collection[str] = ()) -> bool:
    """Stored encrypted on the master, never cloned unshared: secret-looking or master-only."""
    return is_secret_key(key) or is_master_only(key, keys)


def exclusion_reason(key: str, share_keys: Iterable[str] = (), keys: Collection[str] = ()) -> str | None:
    """Why the cloner leaves a master key out of a tenant (`keys`: the master's keys), or None if it copies it."""
    family = master_only_family(key, keys)
    if family is not None:
        return family.reason
    if is_secret_key(key) and key not in set(share_keys):
        return f"secret-looking (copy it with --share {key})"
    return None
