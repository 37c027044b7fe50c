"""The append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from tenantctl.core.db import Base, BigID, JSONType, UTCDateTime


class AuditEntry(Base):
    """Who changed what, with before/after JSON; bot_id has no FK so history outlives bots."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_bot_at", "bot_id", "at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(), index=True, nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    entity: Mapped[str] = mapped_column(String(128), nullable=False)
    bot_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[Any] = mapped_column(JSONType, nullable=True)
    after: Mapped[Any] = mapped_column(JSONType, nullable=True)
