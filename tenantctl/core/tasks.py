"""Background tasks of a running process (the flag watcher, the usage flusher)."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Stop a background task (None: nothing to stop) and wait until it has."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
