"""Settings from the environment and `.env` (environment wins)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from tenantctl.core.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tenantctl.db"
DEFAULT_TELEGRAM_API_SERVER = "https://api.telegram.org"


def _parse_ids(raw: str) -> frozenset[int]:
    ids = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise ConfigError(f"MASTER_ADMIN_IDS: {part!r} is not a Telegram user id")
        ids.add(int(part))
    return frozenset(ids)


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a whole number") from None


@dataclass(frozen=True)
class Settings:
    """Every setting tenantctl reads; see the README's settings table."""

    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str | None = None
    master_bot_token: str | None = None
    master_admin_ids: frozenset[int] = field(default_factory=frozenset)
    telegram_api_server: str = DEFAULT_TELEGRAM_API_SERVER
    redis_url: str | None = None
    env_example_path: str | None = None
    stars_rate_kopeks: int = 150
    grace_period_days: int = 3
    renewal_notice_days: int = 3
    key_file: str = ".tenantctl/secret.key"

    @classmethod
    def load(cls, env_file: str | os.PathLike | None = ".env") -> "Settings":
        """Read settings from `env_file` (if present) overlaid by os.environ."""
        env: dict[str, str] = {}
        if env_file and Path(env_file).is_file():
            env.update({k: v or "" for k, v in dotenv_values(env_file).items()})
        env.update(os.environ)

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(
            database_url=get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            secret_key=get("TENANTCTL_SECRET_KEY"),
            master_bot_token=get("MASTER_BOT_TOKEN"),
            master_admin_ids=_parse_ids(env.get("MASTER_ADMIN_IDS", "")),
            telegram_api_server=(get("TELEGRAM_API_SERVER") or DEFAULT_TELEGRAM_API_SERVER).rstrip("/"),
            redis_url=get("REDIS_URL"),
            env_example_path=get("ENV_EXAMPLE_PATH"),
            stars_rate_kopeks=_int(env, "STARS_RATE_KOPEKS", 150),
            grace_period_days=_int(env, "GRACE_PERIOD_DAYS", 3),
            renewal_notice_days=_int(env, "RENEWAL_NOTICE_DAYS", 3),
            key_file=get("TENANTCTL_KEY_FILE") or ".tenantctl/secret.key",
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
