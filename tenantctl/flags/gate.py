"""The runtime feature gate bots use: `bot_feature_flags` behind an in-process cache.

`flags.live.FlagWatcher` keeps it fresh: it calls `refresh` when flags change in any process. A flag
under a user-sticky rollout is answered per end user (`user`: the Telegram user id, or any sticky
id) from its `user_splits`; without a user, the answer for users in no rollout. Every `is_enabled`
and `value` is counted by result (an attribute increment on the cached flag); `take_usage` hands the
counts to a `flags.usage.UsageFlusher`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantctl.flags.models import BotFeatureFlag
from tenantctl.flags.rollout import bucket
from tenantctl.flags.usage import Counts, usage_result


class Flag:
    """One cached answer, and how many times it was given since the counts were last taken."""

    __slots__ = ("enabled", "value", "config", "splits", "result", "hits")

    def __init__(self, enabled: bool, value: str | None, config: dict[str, Any],
                 splits: tuple[tuple[int, Flag], ...] | None = None) -> None:
        self.enabled, self.value, self.config, self.splits = enabled, value, config, splits
        self.result = usage_result(enabled, value)
        self.hits = 0


def _flag(enabled: bool, value: str | None, config: dict[str, Any], user_splits: list[dict[str, Any]] | None) -> Flag:
    splits = tuple((s["upto"], Flag(s["enabled"], s["value"], s["config"])) for s in user_splits) if user_splits else None
    return Flag(enabled, value, config, splits)


_NONE: dict[str, Flag] = {}
_COLUMNS = (BotFeatureFlag.feature_key, BotFeatureFlag.enabled, BotFeatureFlag.value, BotFeatureFlag.config,
            BotFeatureFlag.user_splits)
_ONE_BOT = select(*_COLUMNS).where(BotFeatureFlag.bot_id == bindparam("bot_id"))


class FeatureGate:
    """Answers "is feature X on for bot B (and end user U)?" from memory; `load` refreshes a bot at most every `ttl` s."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: float = 30.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._flags: dict[int, dict[str, Flag]] = {}
        self._loaded_at: dict[int, float] = {}
        self._taken: Counts = {}  # counts of answers no longer held

    async def load(self, bot_id: int, *, force: bool = False) -> None:
        """Read one bot's flags unless the cached copy is fresh. Reads only: expiry is `billing tick`'s job."""
        if not force and time.monotonic() - self._loaded_at.get(bot_id, float("-inf")) < self._ttl:
            return
        async with self._sessions() as session:
            rows = (await session.execute(_ONE_BOT, {"bot_id": bot_id})).all()
        self._replace(bot_id, {key: _flag(enabled, value, config, splits) for key, enabled, value, config, splits in rows})
        self._loaded_at[bot_id] = time.monotonic()

    async def refresh(self, bot_ids: Iterable[int] | None = None) -> None:
        """Read again the loaded bots among `bot_ids` (None: every loaded bot) in one query."""
        wanted = list(self._flags) if bot_ids is None else [b for b in set(bot_ids) if b in self._flags]
        if not wanted:
            return
        async with self._sessions() as session:
            rows = (await session.execute(select(BotFeatureFlag.bot_id, *_COLUMNS).where(BotFeatureFlag.bot_id.in_(wanted)))).all()
        fresh: dict[int, dict[str, Flag]] = {bot_id: {} for bot_id in wanted}
        for bot_id, key, enabled, value, config, splits in rows:
            fresh[bot_id][key] = _flag(enabled, value, config, splits)
        loaded_at = time.monotonic()
        for bot_id, flags in fresh.items():
            self._replace(bot_id, flags)
            self._loaded_at[bot_id] = loaded_at

    def _replace(self, bot_id: int, flags: dict[str, Flag]) -> None:
        """Hold the bot's fresh flags, keeping the counts of the ones they replace."""
        self._fold(bot_id, self._flags.get(bot_id, _NONE), self._taken)
        self._flags[bot_id] = flags

    @staticmethod
    def _fold(bot_id: int, flags: dict[str, Flag], into: Counts) -> None:
        for key, flag in flags.items():
            for answer in (flag, *(split for _, split in flag.splits or ())):
                if answer.hits:
                    counted = (bot_id, key, answer.result)
                    into[counted] = into.get(counted, 0) + answer.hits
                    answer.hits = 0

    def take_usage(self) -> Counts:
        """The evaluations counted since the last call, by (bot, feature, result)."""
        counts, self._taken = self._taken, {}
        for bot_id, flags in self._flags.items():
            self._fold(bot_id, flags, counts)
        return counts

    def invalidate(self, bot_id: int | None = None) -> None:
        """Forget one bot's flags (or all), so the next `load` reads them again."""
        if bot_id is None:
            self._loaded_at.clear()
        else:
            self._loaded_at.pop(bot_id, None)

    @staticmethod
    def _split(flag: Flag, key: str, user: int | str) -> Flag:
        """The answer for the end user's bucket: the first split that reaches it, else the flag's own."""
        sticky = bucket(key, str(user))
        return next((split for upto, split in flag.splits if sticky <= upto), flag)

    def _answer(self, bot_id: int, key: str, user: int | str | None) -> Flag | None:
        """The flag as it answers `user` (a user-sticky rollout's split); None when unknown."""
        flag = self._flags.get(bot_id, _NONE).get(key)
        if flag is not None and flag.splits is not None and user is not None:
            return self._split(flag, key, user)
        return flag

    def is_enabled(self, bot_id: int, key: str, user: int | str | None = None) -> bool:
        """Whether `key` is on for the bot (and its end user `user`, for a user-sticky rollout); unknown is off."""
        flag = self._answer(bot_id, key, user)
        if flag is None:
            return False
        flag.hits += 1
        return flag.enabled

    def value(self, bot_id: int, key: str, user: int | str | None = None) -> str | None:
        """A mode feature's effective value (None when off), for the end user `user` under a user-sticky rollout."""
        flag = self._answer(bot_id, key, user)
        if flag is None:
            return None
        flag.hits += 1
        return flag.value

    def config(self, bot_id: int, key: str, user: int | str | None = None) -> dict[str, Any]:
        """The merged config of `key` for the bot ({} when unknown), for the end user `user` under a user-sticky rollout."""
        flag = self._answer(bot_id, key, user)
        return {} if flag is None else dict(flag.config)
