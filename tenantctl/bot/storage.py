"""FSM storage for the bot: the `bot_fsm_states` table, or Redis when REDIS_URL is set.

Either way the key includes the bot id, so one process can run many bots, and a restart
resumes every conversation where it was.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, AsyncIterator, Mapping

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantctl.core.conversation import FsmRecord
from tenantctl.core.settings import Settings


update_session: ContextVar[AsyncSession | None] = ContextVar("update_session", default=None)
"""The session of the update being handled (set by DbSessionMiddleware): FSM changes join its transaction."""


_READ = select(FsmRecord.state, FsmRecord.data).where(FsmRecord.key == bindparam("key"))


def key_builder() -> KeyBuilder:
    """Keys like `fsm:<bot_id>:<chat_id>:<user_id>`."""
    return DefaultKeyBuilder(with_bot_id=True)


class DatabaseStorage(BaseStorage):
    """One row per conversation. Inside a handler it writes in the update's transaction, so the
    state lands with the update's other changes or not at all; elsewhere each call is its own short transaction.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], builder: KeyBuilder | None = None) -> None:
        self._sessions = sessions
        self._keys = builder or key_builder()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        current = update_session.get()
        if current is not None:
            yield current
            return
        async with self._sessions() as session, session.begin():
            yield session

    async def _write(self, key: StorageKey, **values: Any) -> None:
        name = self._keys.build(key)
        async with self._session() as session:
            record = await session.get(FsmRecord, name, with_for_update=True)
            state = values.get("state", record.state if record else None)
            data = values.get("data", record.data if record else {})
            if state is None and not data:
                if record is not None:
                    await session.delete(record)
            elif record is None:
                session.add(FsmRecord(key=name, state=state, data=data))
            else:
                record.state, record.data = state, data
            await session.flush()

    async def _read(self, key: StorageKey) -> tuple[str | None, dict[str, Any]]:
        async with self._session() as session:
            row = (await session.execute(_READ, {"key": self._keys.build(key)})).first()
        return (row[0], dict(row[1] or {})) if row else (None, {})

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._write(key, state=state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._read(key))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return (await self._read(key))[1]

    async def close(self) -> None:
        """Nothing to close: the engine belongs to the App."""


def make_storage(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> BaseStorage:
    """Redis storage when REDIS_URL is set, otherwise the database."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url, key_builder=key_builder())
    return DatabaseStorage(sessions)
