"""The feature catalogue, the per-bot flag exceptions, and the view of every bot's effective flags."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenantctl.core.db import Base, JSONType, Timestamps, UTCDateTime

FLAG_SOURCES = ("default", "plan", "override")
ROLLOUT_BY = ("tenant", "user")  # a rollout is sticky by the tenant (bot id) or by the end user (targetingKey)


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


class FlagAnswer:
    """The columns of a stored answer for a feature: a plan's snapshot or a bot's exception."""

    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    value: Mapped[str | None] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    # Per-user rollouts: [{"upto", "enabled", "value", "config"}], ascending `upto`; an end user whose bucket
    # (flags.rollout) is at most `upto` gets that answer (first match), everyone else the columns above. None: no split.
    user_splits: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now(), nullable=False
    )


class BotFlagException(FlagAnswer, Base):
    """One bot's answer for one feature where it differs from its plan's snapshot (`plans.models.PlanFeatureFlag`):
    a live override, or a grant's tenant-sticky rollout that takes the bot in. Written by `plans.effective` only."""

    __tablename__ = "bot_flag_exceptions"
    __table_args__ = (
        CheckConstraint(f"source IN {FLAG_SOURCES}", name="source"),
        Index("ix_bot_flag_exceptions_feature", "feature_key"),
    )

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    feature_key: Mapped[str] = mapped_column(
        ForeignKey("features.key", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )


VIEWS = MetaData()
"""The views: mapped for reading, created by the migrations, never by `create_all` nor compared for drift."""


class BotFeatureFlag(Base):
    """The effective state of one feature for one bot, read-only: the view `bot_feature_flags` (migration 0009).

    A tenant's row is its exception (`BotFlagException`) when it has one and its subscription is active, else its
    plan's snapshot for its subscription's state (`plans.models.PlanFeatureFlag`); a bot without a subscription has
    none. Bots, the API's readers and reports read this; `plans.effective.recompute_flags` writes the tables under it.
    """

    __table__ = Table(
        "bot_feature_flags",
        VIEWS,
        Column("bot_id", Integer, primary_key=True),
        Column("feature_key", String(100), primary_key=True),
        Column("enabled", Boolean, nullable=False),
        Column("value", String(64)),
        Column("config", JSONType, nullable=False),
        Column("source", String(16), nullable=False),  # FLAG_SOURCES
        Column("user_splits", JSONType),  # as BotFlagException.user_splits
        Column("updated_at", UTCDateTime, nullable=False),
    )

    bot_id: Mapped[int]
    feature_key: Mapped[str]
    enabled: Mapped[bool]
    value: Mapped[str | None]
    config: Mapped[dict[str, Any]]
    source: Mapped[str]
    user_splits: Mapped[list[dict[str, Any]] | None]
    updated_at: Mapped[datetime]


class TenantFeatureOverride(Timestamps, Base):
    """A master admin's override of one feature for one bot; survives plan syncs."""

    __tablename__ = "tenant_feature_overrides"
    __table_args__ = (
        CheckConstraint("rollout_percent BETWEEN 0 AND 100", name="rollout_percent"),
        CheckConstraint(f"rollout_by IN {ROLLOUT_BY}", name="rollout_by"),
    )

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    feature_key: Mapped[str] = mapped_column(
        ForeignKey("features.key", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool | None] = mapped_column(Boolean)  # None: inherit the plan's value
    value: Mapped[str | None] = mapped_column(String(64))  # a mode feature's value
    config_override: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    # the override applies to this share (0-100) of the ids `rollout_by` names; None: to everyone
    rollout_percent: Mapped[int | None] = mapped_column(Integer)
    rollout_by: Mapped[str] = mapped_column(String(8), default="tenant", server_default="tenant", nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)


class FlagUsageDaily(Base):
    """How many times a day a bot's feature was evaluated (by the gate or OFREP), per result."""

    __tablename__ = "flag_usage_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    feature_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    result: Mapped[str] = mapped_column(String(64), primary_key=True)  # "on", "off" or a mode's value
    count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", nullable=False)
