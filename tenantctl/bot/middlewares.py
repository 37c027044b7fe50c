"""Update middlewares: one database transaction per update, the feature gate, the user's language."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantctl.onboarding.service import stored_language
from tenantctl.bot.locales import pick_language
from tenantctl.bot.storage import update_session
from tenantctl.flags.gate import FeatureGate

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
AfterCommit = list[Callable[[], Awaitable[Any]]]


class DbSessionMiddleware(BaseMiddleware):
    """`session`: one transaction per update, committed if the handler succeeds, rolled back otherwise.

    Handlers put what must only happen once the data has landed (an API token message, a nudge to
    the supervisor) in `after_commit`; those run after the commit, in order.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        after_commit: AfterCommit = []
        async with self._sessions() as session:
            token = update_session.set(session)
            try:
                async with session.begin():
                    data["session"], data["after_commit"] = session, after_commit
                    result = await handler(event, data)
            finally:
                update_session.reset(token)
        for action in after_commit:
            await action()
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


class LanguageMiddleware(BaseMiddleware):
    """`lang`: the user's stored choice, then Telegram's language_code, then English."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        stored = None
        if user is not None and data.get("tenant") is None:
            stored = await stored_language(data["session"], telegram_user_id=user.id)
        data["lang"] = pick_language(stored, user.language_code if user else None)
        return await handler(event, data)
