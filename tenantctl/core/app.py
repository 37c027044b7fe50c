"""The application context shared by every adapter: settings, engine, sessions, secret box."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from tenantctl.core.crypto import SecretBox, constant_time_equal, load_secret_box
from tenantctl.core.db import conflict_insert, create_engine, mask_url, session_factory, unit_of_work
from tenantctl.core.errors import ConfigError
from tenantctl.core.models import KeyVerifier
from tenantctl.core.settings import Settings


def describe_db_error(url: str, exc: BaseException) -> str:
    """One readable line for a database connection failure, password masked."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    return f"cannot use the database at {mask_url(url)}: {first}"


def _prepare_sqlite_folder(settings: Settings) -> None:
    """Create the data folder for the embedded database; refuse a SQLite file in any other missing folder."""
    path = settings.sqlite_file()
    if path is None or path.parent.is_dir():
        return
    if path.parent != Path(settings.data_dir):
        raise ConfigError(f"DATABASE_URL: the folder {path.parent} does not exist (create it, or fix the path)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the data folder {path.parent}: {exc.strerror} (set TENANTCTL_HOME)") from None


@dataclass
class App:
    """What a running adapter needs; one per process (or per test)."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    notices: list[str] = field(default_factory=list)
    _secret_box: SecretBox | None = None

    @classmethod
    async def open(cls, settings: Settings, *, check_schema: bool = True) -> "App":
        """Connect, check (or on SQLite, bring up) the schema, and check the key against the database's verifier.

        The key is checked whenever one is configured (always on SQLite, where a key file stands in):
        a database is pinned to the first key that opens it, and any other key is refused here,
        before anything is written. Without `check_schema` (the `db` migration commands) it is not.
        """
        from tenantctl.core.migrate import ensure_schema

        _prepare_sqlite_folder(settings)
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            if check_schema:
                await ensure_schema(engine, auto_upgrade=settings.is_sqlite)
        except (OperationalError, DBAPIError, OSError) as exc:
            await engine.dispose()
            raise ConfigError(describe_db_error(settings.database_url, exc)) from None
        except BaseException:
            await engine.dispose()
            raise
        app = cls(settings=settings, engine=engine, sessions=session_factory(engine))
        if check_schema and (settings.secret_key or settings.is_sqlite):
            try:
                await app._check_key()
            except BaseException:
                await engine.dispose()
                raise
        return app

    async def _check_key(self) -> None:
        async with self.engine.begin() as connection:
            stored = await connection.scalar(select(KeyVerifier.verifier))
            box = self._load_secret_box(create=stored is None)
            if stored is None:  # first use: pin the database to this key
                stored = await _pin(connection, box.verifier())
        if not constant_time_equal(stored, box.verifier()):
            raise ConfigError(f"{box.source} does not match this database's key (the one its secrets are encrypted with): "
                              "use that key, or change keys with `tenantctl db rotate-key`; nothing was written")

    @property
    def secret_box(self) -> SecretBox:
        """The box that encrypts bot tokens and secret config values."""
        return self._secret_box or self._load_secret_box(create=True)

    def _load_secret_box(self, *, create: bool) -> SecretBox:
        box, created = load_secret_box(
            secret_key=self.settings.secret_key,
            is_sqlite=self.settings.is_sqlite,
            key_file=self.settings.key_file,
            create=create,
        )
        if created:
            self.notices.append(f"generated a new encryption key in {created} (mode 0600): back it up")
        self._secret_box = box
        return box

    def unit_of_work(self) -> "asynccontextmanager[AsyncSession]":
        """One transaction: everything inside lands, or nothing does."""
        return unit_of_work(self.sessions)

    async def close(self) -> None:
        await self.engine.dispose()


async def _pin(connection: AsyncConnection, verifier: str) -> str:
    """Store the verifier unless another process just did; the stored one either way."""
    await connection.execute(conflict_insert(connection.dialect.name, KeyVerifier).values(id=1, verifier=verifier).on_conflict_do_nothing())
    return await connection.scalar(select(KeyVerifier.verifier))


@asynccontextmanager
async def open_app(settings: Settings, *, check_schema: bool = True) -> AsyncIterator[App]:
    """Open the app for the length of a block."""
    app = await App.open(settings, check_schema=check_schema)
    try:
        yield app
    finally:
        await app.close()
