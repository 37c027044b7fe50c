"""Database engine, sessions, the declarative Base and portable column types."""

from __future__ import annotations

import asyncio
import random
import re
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    TypeDecorator,
    func,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import AsyncAdaptedQueuePool

from tenantctl.core import sqlite_driver
from tenantctl.core.errors import ConfigError, Invalid

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The one declarative base; every models module registers here."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL."""


def conflict_insert(dialect_name: str, table: Any) -> Any:
    """An INSERT that takes ON CONFLICT clauses, for this dialect (PostgreSQL or SQLite)."""
    return (postgresql if dialect_name == "postgresql" else sqlite).insert(table)


BigID = BigInteger().with_variant(Integer(), "sqlite")
"""A 64-bit surrogate key that still autoincrements on SQLite."""


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Timestamps:
    """created_at / updated_at, filled and refreshed by the database's clock."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now(), nullable=False
    )


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def normalize_url(url: str) -> str:
    """Pick the async driver for a plain `postgresql://` or `sqlite://` URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"DATABASE_URL is not a database URL: {mask_url(url)}") from None
    driver = parsed.drivername
    if driver in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+asyncpg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif driver in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif driver not in ("postgresql+psycopg", "sqlite+aiosqlite"):
        raise ConfigError(f"DATABASE_URL uses an unsupported driver {driver!r}: use postgresql+psycopg:// or sqlite+aiosqlite://")
    return parsed.render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


POOL_SIZE = 15
"""Connections an engine keeps open, all of them kept: the bot's concurrent updates and their follow-ups never open and
close one each (the default pool keeps 5 and closes the other 10 as soon as they are returned)."""


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url`. SQLite runs on the event loop's thread, its connections taking turns to write
    (`sqlite_driver`), with foreign keys switched on and a write-ahead log: readers and the one writer no longer block
    each other, and a commit appends to the log (synced at checkpoints, not at every commit)."""
    url = normalize_url(url)
    database = make_url(url).database
    if database not in (None, "", ":memory:"):  # an in-memory SQLite database has a single connection
        kwargs.setdefault("poolclass", AsyncAdaptedQueuePool)  # SQLAlchemy before 2.0.38 gave a SQLite file none
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", 0)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, async_creator=sqlite_driver.connector(database or ":memory:"), **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(sqlite_driver.WRITE_WAIT * 1000)}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


_INT_RANGES = {BigInteger: (-(2**63), 2**63 - 1), Integer: (-(2**31), 2**31 - 1)}


def check_column_values(obj: Any) -> None:
    """Refuse a value its column cannot hold, before the database does (SQLite would take an over-long string that
    PostgreSQL refuses, and an out-of-range number is a driver error): Invalid naming the field."""
    mapper = sa_inspect(obj).mapper
    label = getattr(type(obj), "__label__", mapper.local_table.name.replace("_", " "))
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        value = getattr(obj, attr.key, None)
        if value is None:
            continue
        field_name = f"{label} {column.name.replace('_', ' ')}"
        length = getattr(column.type, "length", None)
        if isinstance(value, str) and length is not None and len(value) > length:
            raise Invalid(f"{field_name} is too long (at most {length} characters)")
        bounds = next((r for kind, r in _INT_RANGES.items() if isinstance(column.type, kind)), None)
        if bounds and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
            raise Invalid(f"{field_name} is out of range ({bounds[0]} to {bounds[1]})")


@event.listens_for(Session, "before_flush")
def _check_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty):
        check_column_values(obj)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit if the block succeeds, roll back otherwise."""
    async with factory() as session:
        async with session.begin():
            yield session


RETRY_ATTEMPTS = 5
RETRYABLE_SQLSTATES = ("40P01", "40001")  # PostgreSQL: deadlock detected, serialization failure


def is_retryable(exc: DBAPIError) -> bool:
    """A deadlock, a serialization failure or a busy SQLite database: the same transaction may pass if run again."""
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES or "database is locked" in str(exc.orig)


async def run_in_transaction(
    factory: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[T]], *, attempts: int = RETRY_ATTEMPTS
) -> T:
    """Run `work` in one transaction, re-running all of it on a deadlock or serialization failure (never after a commit)."""
    attempt = 0
    while True:
        attempt += 1
        async with factory() as session:
            try:
                async with session.begin():  # commits on the way out: a failed commit is caught below, a done one is not
                    return await work(session)
            except DBAPIError as exc:
                if attempt >= attempts or not is_retryable(exc):
                    raise
        await asyncio.sleep(random.uniform(0, 0.05 * attempt))
