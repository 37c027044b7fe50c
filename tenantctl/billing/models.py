"""Registrations in progress and the payments tenants make to the platform."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenantctl.core.db import Base, JSONType, Timestamps, UTCDateTime

REGISTRATION_STATUSES = ("draft", "awaiting_payment", "awaiting_review", "completed", "cancelled")
OPEN_REGISTRATION_STATUSES = ("draft", "awaiting_payment", "awaiting_review")
REGISTRATION_ABANDON_AFTER = timedelta(days=7)  # a draft untouched this long no longer reserves its token
PAYMENT_PURPOSES = ("activation", "renewal")
PAYMENT_METHODS = ("telegram_stars", "card_to_card", "manual", "waived")
PAYMENT_STATUSES = ("pending", "awaiting_review", "succeeded", "rejected", "refunded", "cancelled")
PAYMENT_CURRENCIES = ("RUB", "XTR")


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


class PlatformPayment(Timestamps, Base):
    """Money a tenant pays the platform; idempotent on (method, external_id)."""

    __tablename__ = "platform_payments"
    __table_args__ = (
        CheckConstraint(f"purpose IN {PAYMENT_PURPOSES}", name="purpose"),
        CheckConstraint(f"method IN {PAYMENT_METHODS}", name="method"),
        CheckConstraint(f"status IN {PAYMENT_STATUSES}", name="status"),
        CheckConstraint(f"currency IN {PAYMENT_CURRENCIES}", name="currency"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        UniqueConstraint("method", "external_id"),
        Index("ix_platform_payments_bot_status", "bot_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int | None] = mapped_column(ForeignKey("bots.id", ondelete="SET NULL"))
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenant_registrations.id", ondelete="SET NULL"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending", nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)  # kopeks for RUB, whole Stars for XTR
    currency: Mapped[str] = mapped_column(String(3), default="RUB", server_default="RUB", nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(128))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invoice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
