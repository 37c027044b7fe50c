"""Settings from the environment and `.env` (environment wins)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from tenantctl.core.errors import ConfigError

DEFAULT_TELEGRAM_API_SERVER = "https://api.telegram.org"
SQLITE_PREFIX = "sqlite+aiosqlite:///"


def data_home(env: dict[str, str] | None = None) -> Path:
    """The per-user folder of the embedded database and the generated key file: TENANTCTL_HOME, else
    $XDG_DATA_HOME/tenantctl, else ~/.local/share/tenantctl (the same whatever the working folder)."""
    env = os.environ if env is None else env
    if env.get("TENANTCTL_HOME", "").strip():
        return Path(env["TENANTCTL_HOME"].strip()).expanduser().resolve()
    xdg = env.get("XDG_DATA_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share").resolve() / "tenantctl"


def resolve_sqlite_url(url: str) -> str:
    """A SQLite URL with its file path made absolute (resolved once, against the working folder); others as they are."""
    scheme, sep, path = url.partition(":///")
    if not scheme.startswith("sqlite") or not sep or not path or path == ":memory:" or path.startswith("/"):
        return url
    return f"{scheme}:///{Path(path).expanduser().resolve()}"


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

    database_url: str = field(default_factory=lambda: f"{SQLITE_PREFIX}{data_home() / 'tenantctl.db'}")
    secret_key: str | None = None
    master_bot_token: str | None = None
    master_admin_ids: frozenset[int] = field(default_factory=frozenset)
    telegram_api_server: str = DEFAULT_TELEGRAM_API_SERVER
    redis_url: str | None = None
    env_example_path: str | None = None
    stars_rate_kopeks: int = 150
    grace_period_days: int = 3
    renewal_notice_days: int = 3
    key_file: str = field(default_factory=lambda: str(data_home() / "secret.key"))
    data_dir: str = field(default_factory=lambda: str(data_home()))

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

        home = data_home(env)
        return cls(
            database_url=resolve_sqlite_url(get("DATABASE_URL") or f"{SQLITE_PREFIX}{home / 'tenantctl.db'}"),
            secret_key=get("TENANTCTL_SECRET_KEY"),
            master_bot_token=get("MASTER_BOT_TOKEN"),
            master_admin_ids=_parse_ids(env.get("MASTER_ADMIN_IDS", "")),
            telegram_api_server=(get("TELEGRAM_API_SERVER") or DEFAULT_TELEGRAM_API_SERVER).rstrip("/"),
            redis_url=get("REDIS_URL"),
            env_example_path=get("ENV_EXAMPLE_PATH"),
            stars_rate_kopeks=_int(env, "STARS_RATE_KOPEKS", 150),
            grace_period_days=_int(env, "GRACE_PERIOD_DAYS", 3),
            renewal_notice_days=_int(env, "RENEWAL_NOTICE_DAYS", 3),
            key_file=str(Path(get("TENANTCTL_KEY_FILE") or home / "secret.key").expanduser().resolve()),
            data_dir=str(home),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_file(self) -> Path | None:
        """The SQLite database's file (None on PostgreSQL or in memory)."""
        scheme, _, path = self.database_url.partition(":///")
        return Path(path) if scheme.startswith("sqlite") and path and path != ":memory:" else None
