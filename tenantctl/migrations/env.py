"""Alembic environment: shares the caller's connection, or opens one from DATABASE_URL."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from tenantctl.core.db import create_engine
from tenantctl.models import metadata
from tenantctl.core.settings import Settings

config = context.config


def run_with_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_new_engine() -> None:
    url = config.attributes.get("url") or Settings.load().database_url
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(run_with_connection)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")

shared = config.attributes.get("connection")
if shared is not None:
    run_with_connection(shared)
else:
    asyncio.run(run_with_new_engine())
