"""SQLite for the async engine, run on the event loop's thread instead of a thread per connection.

aiosqlite hands every call (open a cursor, execute, fetch, close it, commit) to the connection's own thread and waits
for the answer. A small query takes microseconds; each hand-over takes tens, and under load the threads and the event
loop contend for the GIL. The engine's connections are therefore `Connection`s: the part of aiosqlite's interface that
SQLAlchemy's aiosqlite dialect uses, carried out at once.

One thing then needs care. SQLite has one writer at a time, and a writer waiting for its lock would now wait on the
event loop's thread, holding up the very transaction it waits for. So the process's connections to a database take
turns to write (`WriterTurns`): a transaction waits for its turn on the event loop, first come first served, before its first write,
and gives it back when it commits or rolls back. A writer in another process (the CLI beside a running bot) is still
waited for by SQLite's busy timeout, on this thread.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import weakref
from typing import Any

WRITE_WAIT = 5.0
"""Seconds a transaction waits for its turn to write (SQLite's busy timeout, for other processes, is the same)."""

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "SAVEPOINT")


class WriterTurns:
    """The write turn shared by one database's connections in this process, whichever engine opened them: a lock per
    event loop (tests run several loops)."""

    _by_database: weakref.WeakValueDictionary[str, WriterTurns] = weakref.WeakValueDictionary()

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, database: str) -> WriterTurns:
        """The turns of the database file `database` (an in-memory database gets its own)."""
        if database == ":memory:":
            return cls()
        key = os.path.realpath(database)
        turns = cls._by_database.get(key)
        if turns is None:
            turns = cls._by_database[key] = cls()
        return turns

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock


class Cursor:
    """A sqlite3 cursor behind aiosqlite's coroutine methods."""

    def __init__(self, connection: Connection, raw: sqlite3.Cursor) -> None:
        self._connection = connection
        self._raw = raw

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        await self._connection.take_turn(sql)
        try:
            self._raw.execute(sql) if parameters is None else self._raw.execute(sql, parameters)
        finally:
            self._connection.settle()
        return self

    async def executemany(self, sql: str, seq_of_parameters: Any) -> Cursor:
        await self._connection.take_turn(sql)
        try:
            self._raw.executemany(sql, seq_of_parameters)
        finally:
            self._connection.settle()
        return self

    async def fetchone(self) -> Any:
        return self._raw.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._raw.fetchmany(self._raw.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._raw.fetchall()

    async def close(self) -> None:
        self._raw.close()

    @property
    def description(self) -> Any:
        return self._raw.description

    @property
    def rowcount(self) -> int:
        return self._raw.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._raw.lastrowid

    @property
    def arraysize(self) -> int:
        return self._raw.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._raw.arraysize = value


class _NewCursor:
    """What `Connection.cursor()` returns: awaited (SQLAlchemy 2.0) or entered (2.1), it is the cursor."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Any:
        return self.__aenter__().__await__()

    async def __aenter__(self) -> Cursor:
        return self._cursor

    async def __aexit__(self, *_exc: object) -> None:
        await self._cursor.close()


class Connection:
    """A sqlite3 connection behind aiosqlite's interface, taking its turn to write."""

    def __init__(self, raw: sqlite3.Connection, turns: WriterTurns) -> None:
        self._conn = raw
        self._connection: sqlite3.Connection | None = raw  # aiosqlite's name: SQLAlchemy checks it before a commit
        self._turns = turns
        self._turn: asyncio.Lock | None = None

    async def take_turn(self, sql: str) -> None:
        """Before a statement: a write outside a turn waits for this database's turn (OperationalError after WRITE_WAIT,
        which the unit of work treats as a busy database and runs again)."""
        if self._turn is not None or not sql.lstrip()[:9].upper().startswith(_WRITES):
            return
        lock = self._turns.lock()
        try:
            async with asyncio.timeout(WRITE_WAIT):
                await lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        self._turn = lock

    def settle(self) -> None:
        """After a statement, commit or rollback: the turn goes back once no transaction is open (a write in autocommit,
        such as DDL, ends at once)."""
        if self._turn is not None and not (self._connection is not None and self._conn.in_transaction):
            self._turn, turn = None, self._turn
            turn.release()

    def cursor(self) -> _NewCursor:
        return _NewCursor(Cursor(self, self._conn.cursor()))

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        return await Cursor(self, self._conn.cursor()).execute(sql, parameters)

    async def commit(self) -> None:
        try:
            self._conn.commit()
        finally:
            self.settle()

    async def rollback(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self.settle()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close now (SQLAlchemy's terminate); an open transaction is rolled back by SQLite and the turn given back."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()
        self.settle()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level


def connector(database: str) -> Any:
    """An engine's `async_creator`: a new connection to `database` (a path, or ":memory:")."""
    turns = WriterTurns.of(database)

    async def connect() -> Connection:
        return Connection(sqlite3.connect(database, check_same_thread=False), turns)

    return connect
