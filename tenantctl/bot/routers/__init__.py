"""The bot's routers: registration and renewals on the master bot, the greeting on tenant bots."""

from __future__ import annotations

from typing import Any, Callable

from aiogram import Router


class Routes:
    """Handlers declared at import time and mounted on a fresh Router per dispatcher.

    An aiogram Router can belong to one dispatcher only, and every Runner (a test may start
    several in one process) builds its own dispatchers.
    """

    def __init__(self, name: str) -> None:
        self.name = name
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
        """A new Router with every handler, in declaration order."""
        router = Router(name=self.name)
        for kind, filters, handler in self._entries:
            getattr(router, kind).register(handler, *filters)
        return router


def queue_refund(after_commit: list[Callable[[], Any]], *, bot: Any, message: Any, text: str) -> None:
    """After the commit, refund the message's Stars payment in full and tell the payer `text`."""
    charge_id = message.successful_payment.telegram_payment_charge_id

    async def refund() -> None:
        await bot.refund_star_payment(message.from_user.id, charge_id)
        await message.answer(text)

    after_commit.append(refund)
