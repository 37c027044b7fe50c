"""Update middlewares: one user's updates one at a time, one transaction (and outbox) per update,
the feature gate, and on the master bot the user's open registration and language.
"""

from __future__ import annotations

import asyncio
import itertools
import random

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import TelegramObject, User
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantctl.bot.locales import pick_language
from tenantctl.bot.outbox import Outbox
from tenantctl.bot.storage import update_session
from tenantctl.core.db import RETRY_ATTEMPTS, is_retryable
from tenantctl.flags.gate import FeatureGate
from tenantctl.onboarding.service import open_registration_and_language

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ConversationMiddleware(BaseMiddleware):
    """aiogram's FSM middleware without its read of the state on every update.

    It still handles one user's updates one at a time (under the dispatcher's events isolation) and
    injects `state`; the few handlers that keep a state (the master admins' reject reason, the
    storefront's awaited receipt) read it themselves, in the update's transaction. A registration's
    place is its durable draft, never the FSM.
    """

    def __init__(self, fsm: FSMContextMiddleware) -> None:
        self._fsm = fsm

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        context = self._fsm.resolve_event_context(data["bot"], data)
        if context is None:
            return await handler(event, data)
        async with self._fsm.events_isolation.lock(key=context.key):
            data["state"] = context
            return await handler(event, data)


class DbSessionMiddleware(BaseMiddleware):
    """`session` and `outbox`: one transaction per update, committed if the handler succeeds, rolled
    back otherwise; what the handler queued in the outbox is sent only after the commit.

    A deadlock, a serialization failure or a busy SQLite database before the commit runs the whole
    update again in a fresh transaction (nothing was sent: the outbox is discarded). A failure
    reaches the dispatcher's error handler after the transaction has ended, so the generic error it
    sends goes out with no transaction open.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        for attempt in itertools.count(1):
            outbox = Outbox(data["bot"])
            session = self._sessions()
            try:
                async with session.begin():
                    token = update_session.set(session)
                    try:
                        data["session"], data["outbox"] = session, outbox
                        result = await handler(event, data)
                    finally:
                        update_session.reset(token)
                break
            except DBAPIError as exc:
                if attempt >= RETRY_ATTEMPTS or not is_retryable(exc):
                    raise
            finally:
                # The transaction has ended and given its connection back: closing has no I/O left, so it is not
                # handed to a task of its own (what `async with session` does, once per update).
                await session.close()
            await asyncio.sleep(random.uniform(0, 0.05 * attempt))
        await outbox.flush()
        return result


class FeatureGateMiddleware(BaseMiddleware):
    """`gate`: the FeatureGate, loaded (from its cache when fresh) for the tenant bot handling the update."""

    def __init__(self, gate: FeatureGate) -> None:
        self._gate = gate

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tenant = data.get("tenant")
        if tenant is not None:
            await self._gate.load(tenant.id)
        data["gate"] = self._gate
        return await handler(event, data)


class DraftMiddleware(BaseMiddleware):
    """On the master bot, `draft` and `lang`: the user's open registration (None if none) and their
    language (the one chosen in a registration, then Telegram's language_code), in one query per update.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        draft, chosen = None, None
        if user is not None:
            draft, chosen = await open_registration_and_language(data["session"], telegram_user_id=user.id)
        data["draft"], data["lang"] = draft, pick_language(chosen, user.language_code if user else None)
        return await handler(event, data)


class LanguageMiddleware(BaseMiddleware):
    """On tenant bots, `lang`: Telegram's language_code, else English."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        data["lang"] = pick_language(None, user.language_code if user else None)
        return await handler(event, data)
