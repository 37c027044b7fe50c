"""The feature catalogue and the materialised effective flags of every bot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from tenantctl.core.db import Base, JSONType, Timestamps, UTCDateTime

FLAG_SOURCES = ("default", "plan", "override")


class Feature(Base):
    """One catalogue feature extracted from `.env.example`."""

    __tablename__ = "features"
    __table_args__ = (CheckConstraint("kind IN ('switch', 'mode')", name="kind"),)

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    env_key: Mapped[str] = mapped_column(String(128), nullable=False)
    env_aliases: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    category: Mapped[str] = mapped_column(String(50), index=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    allowed_values: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    default_enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    default_value: Mapped[str | None] = mapped_column(String(256))
    default_config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    config_keys: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    secret_keys: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    is_present: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"), nullable=False)
    # The operator's own switch (flags/catalogue.py master_only_reason): no plan grants it, no override sets it.
    master_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now(), nullable=False
    )


class BotFeatureFlag(Base):
    """The effective state of one feature for one bot; bots read only this table."""

    __tablename__ = "bot_feature_flags"
    __table_args__ = (
        CheckConstraint(f"source IN {FLAG_SOURCES}", name="source"),
        Index("ix_bot_feature_flags_feature", "feature_key", "enabled"),
    )

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    feature_key: Mapped[str] = mapped_column(
        ForeignKey("features.key", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    value: Mapped[str | None] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now(), nullable=False
    )


class TenantFeatureOverride(Timestamps, Base):
    """A master admin's override of one feature for one bot; survives plan syncs."""

    __tablename__ = "tenant_feature_overrides"

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    feature_key: Mapped[str] = mapped_column(
        ForeignKey("features.key", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool | None] = mapped_column(Boolean)  # None: inherit the plan's value
    value: Mapped[str | None] = mapped_column(String(64))  # a mode feature's value
    config_override: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
