"""The application context shared by every adapter: settings, engine, sessions, secret box."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tenantctl.core.crypto import SecretBox, load_secret_box
from tenantctl.core.db import create_engine, mask_url, session_factory, unit_of_work
from tenantctl.core.errors import ConfigError
from tenantctl.core.settings import Settings


def describe_db_error(url: str, exc: BaseException) -> str:
    """One readable line for a database connection failure, password masked."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    return f"cannot use the database at {mask_url(url)}: {first}"


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
        """Connect, and check (or on SQLite, bring up) the schema."""
        from tenantctl.core.migrate import ensure_schema

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
        return cls(settings=settings, engine=engine, sessions=session_factory(engine))

    @property
    def secret_box(self) -> SecretBox:
        """The box that encrypts bot tokens and secret config values."""
        if self._secret_box is None:
            box, created = load_secret_box(
                secret_key=self.settings.secret_key,
                is_sqlite=self.settings.is_sqlite,
                key_file=self.settings.key_file,
            )
            if created:
                self.notices.append(f"generated a new encryption key in {created} (mode 0600): back it up")
            self._secret_box = box
        return self._secret_box

    def unit_of_work(self) -> "asynccontextmanager[AsyncSession]":
        """One transaction: everything inside lands, or nothing does."""
        return unit_of_work(self.sessions)

    async def close(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def open_app(settings: Settings, *, check_schema: bool = True) -> AsyncIterator[App]:
    """Open the app for the length of a block."""
    app = await App.open(settings, check_schema=check_schema)
    try:
        yield app
    finally:
        await app.close()
