"""The runtime feature gate bots use: `bot_feature_flags` behind an in-process cache.

`flags.live.FlagWatcher` keeps it fresh: it calls `refresh` when flags change in any process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantctl.flags.models import BotFeatureFlag


class FeatureGate:
    """Answers "is feature X on for bot B?" from memory; `load` refreshes a bot at most every `ttl` s."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: float = 30.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._flags: dict[int, dict[str, tuple[bool, str | None, dict[str, Any]]]] = {}
        self._loaded_at: dict[int, float] = {}

    async def load(self, bot_id: int, *, force: bool = False) -> None:
        """Read one bot's flags unless the cached copy is fresh. Reads only: expiry is `billing tick`'s job."""
        if not force and time.monotonic() - self._loaded_at.get(bot_id, float("-inf")) < self._ttl:
            return
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(BotFeatureFlag.feature_key, BotFeatureFlag.enabled, BotFeatureFlag.value, BotFeatureFlag.config)
                    .where(BotFeatureFlag.bot_id == bot_id)
                )
            ).all()
        self._flags[bot_id] = {key: (enabled, value, config) for key, enabled, value, config in rows}
        self._loaded_at[bot_id] = time.monotonic()

    async def refresh(self, bot_ids: Iterable[int] | None = None) -> None:
        """Read again the loaded bots among `bot_ids` (None: every loaded bot) in one query."""
        wanted = list(self._flags) if bot_ids is None else [b for b in set(bot_ids) if b in self._flags]
        if not wanted:
            return
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(BotFeatureFlag.bot_id, BotFeatureFlag.feature_key, BotFeatureFlag.enabled,
                           BotFeatureFlag.value, BotFeatureFlag.config)
                    .where(BotFeatureFlag.bot_id.in_(wanted))
                )
            ).all()
        fresh: dict[int, dict[str, tuple[bool, str | None, dict[str, Any]]]] = {bot_id: {} for bot_id in wanted}
        for bot_id, key, enabled, value, config in rows:
            fresh[bot_id][key] = (enabled, value, config)
        loaded_at = time.monotonic()
        for bot_id, flags in fresh.items():
            self._flags[bot_id] = flags
            self._loaded_at[bot_id] = loaded_at

    def invalidate(self, bot_id: int | None = None) -> None:
        """Forget one bot's flags (or all), so the next `load` reads them again."""
        if bot_id is None:
            self._loaded_at.clear()
        else:
            self._loaded_at.pop(bot_id, None)

    def is_enabled(self, bot_id: int, key: str) -> bool:
        """Whether `key` is on for the bot; unknown bots and features are off."""
        entry = self._flags.get(bot_id, {}).get(key)
        return entry is not None and entry[0]

    def value(self, bot_id: int, key: str) -> str | None:
        """A mode feature's effective value (None when off)."""
        entry = self._flags.get(bot_id, {}).get(key)
        return entry[1] if entry else None

    def config(self, bot_id: int, key: str) -> dict[str, Any]:
        """The merged config of `key` for the bot ({} when unknown)."""
        entry = self._flags.get(bot_id, {}).get(key)
        return dict(entry[2]) if entry else {}
