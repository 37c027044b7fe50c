"""One database read at a time per key: concurrent requests that need the same answer await the same task.

A task belongs to the generation it started in (the caches bump theirs at every refresh), so a request that
comes after a change never joins a read that began before it. The task is shielded from the requests that
await it (a client that goes away does not cancel the others' read); its error reaches every one of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Flights(Generic[K, V]):
    """The running read of each key, with the generation it started in."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._running: dict[K, tuple[int, asyncio.Task[V]]] = {}

    def running(self, key: K) -> bool:
        """Whether a read of `key` (of any generation) is running."""
        return key in self._running

    def join(self, key: K, generation: int) -> asyncio.Task[V] | None:
        """The running read of `key` started in `generation`, if any."""
        running = self._running.get(key)
        return running[1] if running is not None and running[0] == generation else None

    def start(self, key: K, generation: int, read: Callable[[], Coroutine[Any, Any, V]]) -> asyncio.Task[V]:
        """Start `read()` as the read of `key`; it is forgotten when done, and its error is left to its awaiters."""
        running = (generation, asyncio.create_task(read(), name=self._name))
        self._running[key] = running

        def done(task: asyncio.Task[V]) -> None:
            if self._running.get(key) is running:
                del self._running[key]
            if not task.cancelled():
                task.exception()  # retrieved: whoever awaited it has it; nothing else logs it

        running[1].add_done_callback(done)
        return running[1]

    async def close(self) -> None:
        """Cancel the reads still running and wait for them."""
        tasks = [task for _, task in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
