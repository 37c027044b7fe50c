"""Usage counts: how often each bot's features are evaluated, per result, by day.

The gate and the API count in memory (a dict or attribute increment on the hot path); a
`UsageFlusher` takes what they counted every `interval` seconds, and once more when it stops, and
adds it to `flag_usage_daily` with an INSERT ... ON CONFLICT DO UPDATE (PostgreSQL and SQLite).
Counts are filed under the UTC day of the flush.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.db import conflict_insert, utcnow
from tenantctl.core.tasks import cancel_and_wait
from tenantctl.flags.models import BotFeatureFlag, FlagUsageDaily

Counts = dict[tuple[int, str, str], int]  # (bot id, feature key, result) -> evaluations
UPSERT_ROWS = 1000  # 5 parameters a row, within SQLite's bound-parameter limit
log = logging.getLogger(__name__)


def usage_result(enabled: bool, value: Any) -> str:
    """What an evaluation is counted as: a mode's value when it is on, else on or off."""
    if enabled and isinstance(value, str):
        return value
    return "on" if enabled else "off"


def add_counts(into: Counts, counts: Counts) -> None:
    """Add `counts` into `into`."""
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


class UsageSource(Protocol):
    """What counts evaluations: the `FeatureGate`, or the API's cache of OFREP answers."""

    def take_usage(self) -> Counts:
        """The counts since the last call, leaving none behind."""


async def record_usage(session: AsyncSession, *, counts: Counts, day: date) -> int:
    """Add the counts of bots that still have flags to the day's rows; the number of rows upserted."""
    bots = {bot_id for bot_id, _, _ in counts}
    if not bots:
        return 0
    known = set((await session.scalars(select(BotFeatureFlag.bot_id).where(BotFeatureFlag.bot_id.in_(bots)).distinct())).all())
    rows = [{"day": day, "bot_id": bot_id, "feature_key": key, "result": result, "count": n}
            for (bot_id, key, result), n in sorted(counts.items()) if bot_id in known and n]
    for start in range(0, len(rows), UPSERT_ROWS):
        statement = conflict_insert(session.bind.dialect.name, FlagUsageDaily).values(rows[start:start + UPSERT_ROWS])
        await session.execute(statement.on_conflict_do_update(
            index_elements=["day", "bot_id", "feature_key", "result"],
            set_={"count": FlagUsageDaily.count + statement.excluded["count"]},
        ))
    return len(rows)


async def usage_totals(session: AsyncSession, *, bot_id: int | None = None, since: date | None = None) -> list[dict[str, Any]]:
    """Evaluations per bot, feature and result since a day (None: ever), with the first and last day counted."""
    query = (
        select(FlagUsageDaily.bot_id, FlagUsageDaily.feature_key, FlagUsageDaily.result, func.sum(FlagUsageDaily.count),
               func.min(FlagUsageDaily.day), func.max(FlagUsageDaily.day))
        .group_by(FlagUsageDaily.bot_id, FlagUsageDaily.feature_key, FlagUsageDaily.result)
        .order_by(FlagUsageDaily.bot_id, FlagUsageDaily.feature_key, FlagUsageDaily.result)
    )
    if bot_id is not None:
        query = query.where(FlagUsageDaily.bot_id == bot_id)
    if since is not None:
        query = query.where(FlagUsageDaily.day >= since)
    return [{"bot_id": bot, "feature_key": key, "result": result, "count": int(count), "first_day": first.isoformat(),
             "last_day": last.isoformat()}
            for bot, key, result, count, first, last in (await session.execute(query)).all()]


class UsageFlusher:
    """Writes what `sources` counted every `interval` s, and at `stop`; counts a failed write keeps for the next."""

    def __init__(self, sources: Sequence[UsageSource], unit_of_work: Callable[[], AbstractAsyncContextManager[AsyncSession]],
                 *, interval: float = 60.0) -> None:
        self._sources = list(sources)
        self._unit_of_work = unit_of_work
        self._interval = interval
        self._pending: Counts = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Flush in the background every `interval` seconds."""
        self._task = asyncio.create_task(self._run(), name="usage-flusher")

    async def stop(self) -> None:
        """Stop the background flushes and write what is left."""
        await cancel_and_wait(self._task)
        self._task = None
        try:
            await self.flush()
        except Exception:  # shutting down: say so, do not stop the shutdown
            log.warning("flag usage counts not written at shutdown", exc_info=True)

    async def flush(self) -> int:
        """Write the counts taken from every source now; the number of rows upserted."""
        for source in self._sources:
            add_counts(self._pending, source.take_usage())
        if not self._pending:
            return 0
        counts, self._pending = self._pending, {}
        try:
            async with self._unit_of_work() as session:
                return await record_usage(session, counts=counts, day=utcnow().date())
        except BaseException:
            add_counts(self._pending, counts)
            raise

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:  # the database is away for a moment: the counts wait for the next round
                log.warning("flag usage flush failed; retrying", exc_info=True)
