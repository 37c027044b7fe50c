"""SQLite on the event loop's thread (`core.sqlite_driver`): an engine's writers take turns on the event loop, readers
never wait for them, a turn is given back by commit, rollback and a failed statement, and a writer in another process is
waited for by SQLite's busy timeout."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from tenantctl.core import sqlite_driver
from tenantctl.core.db import create_engine, run_in_transaction, session_factory

INSERT = "INSERT INTO notes (body) VALUES (:body)"


@pytest.fixture
async def sessions(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def count(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(text("SELECT count(*) FROM notes"))


async def note(session, body: str | None) -> None:
    await session.execute(text(INSERT), {"body": body})


async def test_concurrent_writers_take_turns_and_all_commit(sessions) -> None:
    writing, most = 0, 0

    async def write(n: int) -> None:
        nonlocal writing, most
        async with sessions() as session, session.begin():
            await note(session, f"first {n}")
            writing += 1
            most = max(most, writing)
            await asyncio.sleep(0.01)  # the write is held across an await, as a handler holds it
            await note(session, f"second {n}")
            writing -= 1

    await asyncio.gather(*(write(n) for n in range(20)))
    assert most == 1
    assert await count(sessions) == 40


async def holding_a_write(sessions) -> tuple[asyncio.Task, asyncio.Event]:
    """A transaction that has written and holds its turn until the returned event is set."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with sessions() as session, session.begin():
            await note(session, "held")
            holding.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await holding.wait()
    return task, release


async def test_a_reader_does_not_wait_for_a_writer_and_the_loop_keeps_running(sessions) -> None:
    task, release = await holding_a_write(sessions)
    assert await count(sessions) == 0  # the uncommitted row is not seen, and the read did not wait
    waiting = asyncio.create_task(run_in_transaction(sessions, lambda session: note(session, "next")))
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 5 and not waiting.done()  # the second writer waits for its turn on the loop, not on its thread
    release.set()
    await asyncio.gather(task, waiting)
    assert await count(sessions) == 2


async def test_rollback_and_a_failed_statement_give_the_turn_back(sessions) -> None:
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            await note(session, "rolled back")
            raise RuntimeError("the handler failed")
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            await note(session, None)
    async with sessions() as session, session.begin():
        await note(session, "after")
    assert await count(sessions) == 1


async def test_a_writer_waiting_past_its_time_fails_as_a_busy_database(sessions, monkeypatch) -> None:
    monkeypatch.setattr(sqlite_driver, "WRITE_WAIT", 0.05)
    task, release = await holding_a_write(sessions)
    with pytest.raises(OperationalError, match="database is locked"):
        async with sessions() as session, session.begin():
            await note(session, "late")
    release.set()
    await task
    assert await count(sessions) == 1


async def test_another_processs_writer_is_waited_for_by_the_busy_timeout(sessions, tmp_path) -> None:
    other = sqlite3.connect(tmp_path / "turns.db", check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO notes (body) VALUES ('other')")
    committer = threading.Timer(0.2, other.commit)
    committer.start()
    started = time.monotonic()
    async with sessions() as session, session.begin():
        await note(session, "ours")
    assert time.monotonic() - started >= 0.15  # it waited for the other writer's commit rather than failing
    committer.join()
    other.close()
    assert await count(sessions) == 2
