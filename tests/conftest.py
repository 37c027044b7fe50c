"""Shared fixtures: throwaway PostgreSQL and SQLite databases, migrated, and an App on each.

PostgreSQL comes from TENANTCTL_TEST_DATABASE_URL (default: the local trust-auth server).
Unreachable PostgreSQL skips its tests with the reason, unless TENANTCTL_REQUIRE_POSTGRES=1,
which turns that skip into a failure (CI sets it).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tenantctl.core.app import App
from tenantctl.core.db import create_engine, mask_url
from tenantctl.core.migrate import upgrade
from tenantctl.core.settings import Settings
from tenantctl.models import metadata

DEFAULT_PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _data_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own TENANTCTL_HOME: nothing reads or writes the user's data folder."""
    home = tmp_path_factory.mktemp("tenantctl-home")
    monkeypatch.setenv("TENANTCTL_HOME", str(home))
    return home

TEST_SECRET_KEY = "x2kyw7PnK5e4qDQpTgg9bS5cjeZ8oRwUpTbnG81cZ8s="
MASTER_ADMIN_ID = 1000


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    async def go() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(go())


class PostgresServer:
    """Creates and drops throwaway databases on one PostgreSQL server."""

    def __init__(self, url: str) -> None:
        self.url = url

    def create(self, prefix: str = "tenantctl_test") -> str:
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(_libpq(self.url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with psycopg.connect(_libpq(self.url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """The PostgreSQL server, or a skip (a failure under TENANTCTL_REQUIRE_POSTGRES=1)."""
    url = os.environ.get("TENANTCTL_TEST_DATABASE_URL") or DEFAULT_PG_URL
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any reason PostgreSQL is unusable
        reason = f"PostgreSQL not reachable at {mask_url(url)}: {str(exc).strip().splitlines()[0]}"
        if os.environ.get("TENANTCTL_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (TENANTCTL_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    return PostgresServer(url)


@pytest.fixture(scope="session")
def pg_migrated(postgres: PostgresServer) -> Iterator[str]:
    """One migrated PostgreSQL database for the session; tests empty it after use."""
    url = postgres.create()
    try:
        _migrate(url)
        yield url
    finally:
        postgres.drop(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables}, alembic_version RESTART IDENTITY CASCADE")
        conn.execute("INSERT INTO alembic_version VALUES (%s)", (_head(),))


def _head() -> str:
    from tenantctl.core.migrate import head_revision

    return head_revision() or ""


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "tenantctl.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("pg_migrated")
    try:
        yield url
    finally:
        _truncate_all(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create("tenantctl_empty")
    try:
        yield url
    finally:
        server.drop(url)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its database, a fixed key, one master admin."""
    return Settings(
        database_url=db_url,
        secret_key=TEST_SECRET_KEY,
        master_admin_ids=frozenset({MASTER_ADMIN_ID}),
        key_file=str(tmp_path / "secret.key"),
    )


@pytest.fixture
async def app(settings: Settings) -> App:
    """An open App on the test database."""
    opened = await App.open(settings)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Environment for running the real Typer app against the test database."""
    monkeypatch.chdir(tmp_path)
    env = {
        "DATABASE_URL": settings.database_url,
        "TENANTCTL_SECRET_KEY": TEST_SECRET_KEY,
        "MASTER_ADMIN_IDS": str(MASTER_ADMIN_ID),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
