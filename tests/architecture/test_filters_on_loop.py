"""Every filter of both dispatchers is a coroutine: aiogram runs any other filter in a worker thread, per update."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiogram import Dispatcher, F
from aiogram.fsm.storage.memory import MemoryStorage

from tenantctl.bot.routers import Routes
from tenantctl.bot.runner import build_dispatchers


def _filters(dp: Dispatcher) -> list[tuple[str, object, bool]]:
    found = []
    for router in dp.chain_tail:
        for kind, observer in router.observers.items():
            for handler in [observer._handler, *observer.handlers]:
                for check in handler.filters or []:
                    found.append((f"{router.name}.{kind}.{getattr(handler.callback, '__name__', handler.callback)}", check.callback,
                                  check.awaitable))
    return found


@pytest.mark.parametrize("which", ["master", "tenant"])
def test_every_filter_runs_on_the_event_loop(which: str) -> None:
    app = SimpleNamespace(sessions=None, settings=SimpleNamespace(master_admin_ids=frozenset()))
    master, tenant = build_dispatchers(app, MemoryStorage(), gate=None)
    filters = _filters(master if which == "master" else tenant)
    assert len(filters) > 5
    assert [(where, check) for where, check, awaitable in filters if not awaitable] == []


async def test_a_magic_filter_is_wrapped_and_keeps_its_answer() -> None:
    routes = Routes("probe")

    @routes.message(F.text.startswith("/"), F.text.as_("said"))
    async def probe() -> None: ...

    handler = routes.build().message.handlers[0]
    assert all(check.awaitable for check in handler.filters)
    assert await handler.check(SimpleNamespace(text="/start")) == (True, {"said": "/start"})
    assert (await handler.check(SimpleNamespace(text="hello")))[0] is False
