"""Bots (master and tenants), their admins, configuration and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from tenantctl.core.db import Base, JSONType, Timestamps, UTCDateTime
from tenantctl.tenants.rules import bot_name_key

BOT_STATUSES = ("pending", "active", "suspended", "expired", "cancelled")
CARD_ROTATIONS = ("round_robin", "random", "weighted")  # how a bot picks the card a payer sees
ADMIN_ROLES = ("owner", "admin")


class Bot(Timestamps, Base):
    """One Telegram bot: the master (is_master) or a tenant's white-label bot."""

    __tablename__ = "bots"
    __label__ = "bot"  # how errors name its fields
    __table_args__ = (
        CheckConstraint(f"status IN {BOT_STATUSES}", name="status"),
        CheckConstraint(f"card_rotation IN {CARD_ROTATIONS}", name="card_rotation"),
        Index(
            "uq_bots_single_master",
            "is_master",
            unique=True,
            postgresql_where=text("is_master"),
            sqlite_where=text("is_master"),
        ),
        # tenant names are unique after normalisation (tenants.rules.bot_name_key); the master keeps its Telegram name
        Index("uq_bots_name_key", "name_key", unique=True, postgresql_where=text("NOT is_master"),
              sqlite_where=text("NOT is_master")),
        # one live row per Telegram bot: a cancelled tenant's bot may be registered again
        Index("uq_bots_telegram_id", "telegram_id", unique=True, postgresql_where=text("status <> 'cancelled'"),
              sqlite_where=text("status <> 'cancelled'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_master: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    name_key: Mapped[str] = mapped_column(Text, nullable=False)  # set with the name, see _keep_name_key
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    token_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    token_fingerprint: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending", nullable=False)
    default_language: Mapped[str] = mapped_column(String(8), default="ru", server_default="ru", nullable=False)
    support_username: Mapped[str | None] = mapped_column(String(64))
    owner_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    # which of its payment cards a card-to-card payer sees: round_robin, random or weighted
    card_rotation: Mapped[str] = mapped_column(String(16), default="round_robin", server_default="round_robin", nullable=False)
    # no webhook secret column: it is derived from the key (SecretBox.webhook_secret), never stored

    @validates("name")
    def _keep_name_key(self, _attribute: str, name: str) -> str:
        self.name_key = bot_name_key(name)
        return name


class BotAdmin(Base):
    """A tenant admin of one bot; the owner is one of them."""

    __tablename__ = "bot_admins"
    __table_args__ = (CheckConstraint(f"role IN {ADMIN_ROLES}", name="role"),)

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(), nullable=False)


class BotConfiguration(Base):
    """One configuration key of one bot; secret values are stored encrypted."""

    __tablename__ = "bot_configurations"
    __table_args__ = (CheckConstraint("source IN ('master', 'cloned', 'tenant')", name="source"),)

    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    config_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    encrypted_value: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="cloned", server_default="cloned", nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now(), nullable=False
    )


class ApiToken(Base):
    """A tenant's API token: only the prefix and SHA-256 hash are stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), index=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
