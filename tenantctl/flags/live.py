"""Live flags: a committed flag change reaches every running process's `FeatureGate`.

On PostgreSQL the transaction that changes a tenant's flags (`plans.effective.recompute_flags`, a status change)
sends a NOTIFY on `CHANNEL`, delivered at commit, naming the changed bots (or `*` for a whole plan or catalogue);
each process LISTENs on its own connection, reconnects with backoff and reloads everything after a reconnect. SQLite has no
notifications: the watcher reloads the loaded bots every `poll_interval` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.tasks import cancel_and_wait

CHANNEL = "tenantctl_flags"
ALL = "*"
MAX_PAYLOAD = 7_900  # bytes; PostgreSQL refuses a NOTIFY payload of 8,000 or more
log = logging.getLogger(__name__)


def change_payload(bot_ids: Iterable[int] | None) -> str:
    """The NOTIFY payload for a change: comma-separated bot ids, or `*` (all) when unscoped or too long."""
    if bot_ids is None:
        return ALL
    payload = ",".join(str(bot_id) for bot_id in sorted(set(bot_ids)))
    return payload if len(payload) <= MAX_PAYLOAD else ALL


def parse_payload(payload: str) -> list[int] | None:
    """The bot ids a payload names; None means every bot."""
    if payload.strip() == ALL:
        return None
    return [int(part) for part in payload.split(",") if part.strip()]


async def notify_flags_changed(session: AsyncSession, *, bot_ids: Iterable[int] | None) -> None:
    """Tell every listening process, at commit, that these bots' flags changed (None: any bot). No-op on SQLite."""
    if session.bind.dialect.name != "postgresql":
        return
    await session.execute(select(func.pg_notify(CHANNEL, change_payload(bot_ids))))


def libpq_url(database_url: str) -> str:
    """The database URL as a libpq connection string, for a LISTEN connection of its own."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Refreshable(Protocol):
    """What a watcher keeps fresh: a `FeatureGate`, or the API's cache of OFREP answers."""

    async def refresh(self, bot_ids: Iterable[int] | None = None) -> None:
        """Read again (or forget) what is held for `bot_ids` (None: every bot)."""


class FlagWatcher:
    """Keeps `targets` fresh: LISTEN/NOTIFY on PostgreSQL, polling on SQLite. `start` and `stop` it."""

    def __init__(self, targets: Sequence[Refreshable], database_url: str, *, poll_interval: float = 1.0,
                 max_backoff: float = 30.0) -> None:
        self._targets = list(targets)
        self._url = database_url
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while a LISTEN connection is up (PostgreSQL)

    def start(self) -> None:
        """Run the watcher in the background."""
        postgres = make_url(self._url).get_backend_name() == "postgresql"
        self._task = asyncio.create_task(self._listen() if postgres else self._poll(), name="flag-watcher")

    async def stop(self) -> None:
        """Stop the watcher."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _refresh(self, bot_ids: list[int] | None) -> None:
        for target in self._targets:
            await target.refresh(bot_ids)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                await self._refresh(None)
            except Exception:  # the database is away for a moment: try again next round
                log.warning("flag poll failed; retrying", exc_info=True)

    async def _listen(self) -> None:
        import psycopg

        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(libpq_url(self._url), autocommit=True) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    await self._refresh(None)  # anything missed while not listening
                    self.listening.set()
                    backoff = 0.5
                    async for notice in connection.notifies():
                        await self._refresh(parse_payload(notice.payload))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("flag listener lost its connection; reconnecting in %.1f s", backoff, exc_info=True)
            self.listening.clear()
            await asyncio.sleep(backoff)
            backoff = min(self._max_backoff, backoff * 2)
