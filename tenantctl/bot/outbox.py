"""Side effects wait for the commit: a handler queues what it sends, and it goes out once the
update's transaction has committed, never while one is open, and never if it failed.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import TelegramMethod
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantctl.tenants.telegram import scrub_tokens

log = logging.getLogger(__name__)


class Outbox:
    """Bot API calls (and other follow-ups) held until the unit of work commits, then run in order."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self._queue: list[Callable[[], Any]] = []

    def send(self, method: TelegramMethod[Any], *, best_effort: bool = False) -> None:
        """Queue one Bot API call; a best-effort one may fail (it is logged) without stopping the rest."""
        async def call() -> None:
            try:
                await self._bot(method)
            except TelegramAPIError as exc:
                if not best_effort:
                    raise
                log.warning("%s failed: %s", type(method).__name__, scrub_tokens(str(exc)))

        self._queue.append(call)

    def then(self, action: Callable[[], Any]) -> None:
        """Queue a follow-up (a nudge, or a network call and a second unit of work), run after the calls before it."""
        self._queue.append(action)

    async def flush(self) -> None:
        """Run everything queued, in order."""
        queue, self._queue = self._queue, []
        for action in queue:
            result = action()
            if inspect.isawaitable(result):
                await result


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession], bot: Bot) -> AsyncIterator[tuple[AsyncSession, Outbox]]:
    """One transaction and its outbox: the outbox is flushed after the commit, and discarded if anything failed."""
    outbox = Outbox(bot)
    async with sessions() as session, session.begin():
        yield session, outbox
    await outbox.flush()
