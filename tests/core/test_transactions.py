"""`run_in_transaction`: a deadlock or serialization failure re-runs the whole unit of work, a bounded number of times."""

from __future__ import annotations

import asyncio
import sqlite3

import psycopg
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantctl.core.db import RETRY_ATTEMPTS, is_retryable, run_in_transaction
from tenantctl.flags.models import Feature
from tests.factories import feature


def wrapped(orig: Exception) -> OperationalError:
    return OperationalError("UPDATE ...", {}, orig)


def test_deadlocks_serialization_failures_and_a_busy_sqlite_are_retryable(tmp_path) -> None:
    path = tmp_path / "busy.db"
    holder, other = sqlite3.connect(path), sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as busy:
        other.execute("BEGIN IMMEDIATE")
    holder.close()
    other.close()
    assert is_retryable(wrapped(busy.value))
    assert is_retryable(wrapped(psycopg.errors.DeadlockDetected()))
    assert is_retryable(wrapped(psycopg.errors.SerializationFailure()))
    assert not is_retryable(IntegrityError("INSERT ...", {}, psycopg.errors.UniqueViolation()))
    assert not is_retryable(wrapped(psycopg.errors.QueryCanceled()))


async def test_a_retryable_error_reruns_the_whole_work_a_bounded_number_of_times(app) -> None:
    runs = []

    async def work(session):
        runs.append(await session.scalar(select(func.count()).select_from(Feature)))
        session.add(feature(f"f{len(runs)}"))
        await session.flush()
        if len(runs) < 3:
            raise wrapped(psycopg.errors.DeadlockDetected())
        return len(runs)

    assert await run_in_transaction(app.sessions, work) == 3
    assert runs == [0, 0, 0]  # each run saw none of the rolled-back ones
    async with app.unit_of_work() as session:
        assert (await session.scalars(select(Feature.key))).all() == ["f3"]

    runs.clear()

    async def always(session):
        runs.append(1)
        raise wrapped(psycopg.errors.SerializationFailure())

    with pytest.raises(OperationalError):
        await run_in_transaction(app.sessions, always)
    assert len(runs) == RETRY_ATTEMPTS

    runs.clear()

    async def refused(session):
        runs.append(1)
        raise IntegrityError("INSERT ...", {}, psycopg.errors.UniqueViolation())

    with pytest.raises(IntegrityError):
        await run_in_transaction(app.sessions, refused)
    assert len(runs) == 1


async def test_nothing_is_rerun_after_the_commit(app) -> None:
    class FailsAfterCommit(AsyncSession):
        async def close(self) -> None:
            await super().close()
            raise wrapped(psycopg.errors.DeadlockDetected())

    runs = []

    async def work(session):
        runs.append(1)
        session.add(feature(f"f{len(runs)}"))

    with pytest.raises(OperationalError):
        await run_in_transaction(async_sessionmaker(app.engine, class_=FailsAfterCommit), work)
    assert runs == [1]
    async with app.unit_of_work() as session:
        assert (await session.scalars(select(Feature.key))).all() == ["f1"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # a real deadlock needs row locks
async def test_a_real_deadlock_is_retried_and_both_transactions_land(app) -> None:
    async with app.unit_of_work() as session:
        session.add_all([feature("a"), feature("b")])
    holding = {"a": asyncio.Event(), "b": asyncio.Event()}
    runs = []

    def lock_both(first: str, second: str):
        async def work(session):
            runs.append(first)
            await session.execute(update(Feature).where(Feature.key == first).values(description=f"by {first}"))
            if runs.count(first) == 1:  # the first run waits until each holds its first row: a deadlock
                holding[first].set()
                await holding[second].wait()
            await session.execute(update(Feature).where(Feature.key == second).values(description=f"by {first}"))
            return first

        return work

    done = await asyncio.gather(run_in_transaction(app.sessions, lock_both("a", "b")),
                                run_in_transaction(app.sessions, lock_both("b", "a")))
    assert done == ["a", "b"] and len(runs) == 3  # PostgreSQL chose one victim, which ran again
    async with app.unit_of_work() as session:
        descriptions = set((await session.scalars(select(Feature.description))).all())
    assert len(descriptions) == 1  # the transaction that ran last wrote both rows
