"""A registration in progress, kept durable so a restart never loses a paid one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenantctl.core.db import Base, Timestamps

REGISTRATION_STATUSES = ("draft", "awaiting_payment", "awaiting_review", "completed", "cancelled")
OPEN_REGISTRATION_STATUSES = ("draft", "awaiting_payment", "awaiting_review")
REGISTRATION_ABANDON_AFTER = timedelta(days=7)  # a draft untouched this long no longer reserves its token


class TenantRegistration(Timestamps, Base):
    """A durable draft of a self-service registration, so a restart never loses a paid one."""

    __tablename__ = "tenant_registrations"
    __table_args__ = (
        CheckConstraint(f"status IN {REGISTRATION_STATUSES}", name="status"),
        Index("ix_tenant_registrations_user_status", "telegram_user_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="draft", server_default="draft", nullable=False)
    step: Mapped[str] = mapped_column(String(32), default="bot_name", server_default="bot_name", nullable=False)
    bot_name: Mapped[str | None] = mapped_column(String(64))
    token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_fingerprint: Mapped[str | None] = mapped_column(String(64))
    bot_username: Mapped[str | None] = mapped_column(String(64))
    bot_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str | None] = mapped_column(String(8))
    support_username: Mapped[str | None] = mapped_column(String(64))
    plan_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tenant_subscription_plans.id", ondelete="SET NULL"))
    payment_method: Mapped[str | None] = mapped_column(String(32))
    fee_kopeks: Mapped[int | None] = mapped_column(Integer)
    bot_id: Mapped[int | None] = mapped_column(ForeignKey("bots.id", ondelete="SET NULL"))
