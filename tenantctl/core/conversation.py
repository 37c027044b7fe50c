"""Database-backed conversation state, keyed per bot and chat (the bot's FSM storage when REDIS_URL is not set)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column

from tenantctl.core.db import Base, JSONType, UTCDateTime


class FsmRecord(Base):
    """One conversation's FSM state and data, keyed by a string that includes the bot id."""

    __tablename__ = "bot_fsm_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now(), nullable=False
    )
