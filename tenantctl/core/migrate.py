"""Alembic driven from code: upgrade, downgrade, current, and the schema check at start-up.

The start-up check reads the revision table and the revision files' headers itself, so that an
up-to-date database never imports Alembic (about 0.2 s); Alembic is loaded only to migrate.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantctl.core.db import mask_url
from tenantctl.core.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"  # package data
_REVISION = re.compile(r'^(down_revision|revision)\b[^=]*=\s*["\']?([\w-]+)', re.MULTILINE)


def _check_migrations_dir() -> None:
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise ConfigError(f"migrations not found at {MIGRATIONS_DIR}: reinstall tenantctl (pip install .)")


def alembic_config() -> "Config":
    """Alembic's config pointing at the project's migrations folder."""
    from alembic.config import Config

    _check_migrations_dir()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    """The newest revision in the migrations folder: the one no other revision revises (read from the files' headers)."""
    _check_migrations_dir()
    revisions, revised = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        fields = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" in fields:
            revisions.add(fields["revision"])
            revised.add(fields.get("down_revision"))
    heads = revisions - revised
    if len(heads) > 1:
        raise ConfigError(f"the migrations have several heads: {', '.join(sorted(heads))}")
    return next(iter(heads), None)


def _current(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _run(connection: Connection, action: str, revision: str) -> None:
    from alembic import command
    from alembic.util import CommandError

    config = alembic_config()
    config.attributes["connection"] = connection
    try:
        getattr(command, action)(config, revision)
    except CommandError as exc:
        raise ConfigError(f"{action} {revision}: {exc}") from None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def _migrate(engine: AsyncEngine, action: str, revision: str) -> None:
    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # batch mode re-creates tables: dropping the old one must not cascade to the rows pointing at it
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.commit()
        try:
            async with connection.begin():
                await connection.run_sync(_run, action, revision)
        finally:
            if sqlite:
                await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                await connection.commit()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database up to `revision`."""
    await _migrate(engine, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Migrate the database down to `revision`."""
    await _migrate(engine, "downgrade", revision)


async def ensure_schema(engine: AsyncEngine, *, auto_upgrade: bool) -> None:
    """Refuse to work on a schema that is behind; the embedded default upgrades itself."""
    current = await current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if auto_upgrade:
        await upgrade(engine)
        return
    where = mask_url(engine.url.render_as_string(hide_password=False))
    raise ConfigError(
        f"the database schema at {where} is at {current or 'nothing'}, not {head}: run `tenantctl db upgrade`"
    )
