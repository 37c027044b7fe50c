"""The bot's routers: renewals, the master admins' review and registration on the master bot, the greeting on tenant bots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import TelegramObject, User
from aiogram.utils.magic_filter import MagicFilter
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.app import App
from tenantctl.core.errors import Forbidden
from tenantctl.tenants.permissions import Permission, require


class Routes:
    """Handlers declared at import time and mounted on a fresh Router per dispatcher.

    An aiogram Router can belong to one dispatcher only, and every Runner (a test may start
    several in one process) builds its own dispatchers. `filters` guard every handler of the
    router (an access check declared once); an update they refuse goes on to the next router.
    """

    def __init__(self, name: str, *filters: Any) -> None:
        self.name = name
        self.filters = filters
        self._entries: list[tuple[str, tuple[Any, ...], Callable[..., Any]]] = []

    def _add(self, kind: str, filters: tuple[Any, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            self._entries.append((kind, filters, handler))
            return handler

        return register

    def message(self, *filters: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._add("message", filters)

    def callback_query(self, *filters: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._add("callback_query", filters)

    def pre_checkout_query(self, *filters: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._add("pre_checkout_query", filters)

    def build(self) -> Router:
        """A new Router with every handler, in declaration order, behind the router's filters."""
        router = Router(name=self.name)
        for kind, filters, handler in self._entries:
            getattr(router, kind).register(handler, *map(on_loop, filters))
        if self.filters:
            for kind in {kind for kind, _, _ in self._entries}:
                getattr(router, kind).filter(*map(on_loop, self.filters))
        return router


class Magic(Filter):
    """A magic filter (`F.text`, …) resolved on the event loop: aiogram runs a filter that is not a coroutine in a worker
    thread, and the hop costs far more than the check."""

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        return self.magic.resolve(event)


def on_loop(check: Any) -> Any:
    """`check`, or a magic filter wrapped to run on the event loop (the routers' own filters are coroutines)."""
    return Magic(check) if isinstance(check, MagicFilter) else check


class HasPermission(Filter):
    """Passes for whoever holds `permission` on the platform (the master admins' permissions); anyone else's update
    goes on to the next router, as if this one did not exist. The services check again."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, event: Any, session: AsyncSession, app: App, event_from_user: User | None = None) -> bool:
        if event_from_user is None:
            return False
        try:
            await require(session, master_admins=app.settings.master_admin_ids, actor_telegram_id=event_from_user.id,
                          bot_id=None, permission=self.permission)
        except Forbidden:
            return False
        return True


def payload_id(payload: str, prefix: str) -> int:
    """The id in an invoice payload like `reg:<id>` (0, which matches nothing, if it holds none)."""
    number = payload.removeprefix(prefix)
    return int(number) if number.isdigit() else 0
