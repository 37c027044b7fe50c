"""The payments tenants make to the platform."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenantctl.core.db import Base, JSONType, Timestamps, UTCDateTime

PAYMENT_PURPOSES = ("activation", "renewal")
STARS, CARD, MANUAL, WAIVED = "telegram_stars", "card_to_card", "manual", "waived"
PAYMENT_METHODS = (STARS, CARD, MANUAL, WAIVED)
PAYMENT_STATUSES = ("pending", "awaiting_review", "succeeded", "rejected", "refunded", "cancelled")
PAYMENT_CURRENCIES = ("RUB", "XTR")


class PlatformPayment(Timestamps, Base):
    """Money a tenant pays the platform; idempotent on (method, external_id)."""

    __tablename__ = "platform_payments"
    __table_args__ = (
        CheckConstraint(f"purpose IN {PAYMENT_PURPOSES}", name="purpose"),
        CheckConstraint(f"method IS NULL OR method IN {PAYMENT_METHODS}", name="method"),
        CheckConstraint(f"status IN {PAYMENT_STATUSES}", name="status"),
        CheckConstraint(f"currency IN {PAYMENT_CURRENCIES}", name="currency"),
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        UniqueConstraint("method", "external_id"),
        Index("ix_platform_payments_bot_status", "bot_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int | None] = mapped_column(ForeignKey("bots.id", ondelete="SET NULL"))
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenant_registrations.id", ondelete="SET NULL"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    method: Mapped[str | None] = mapped_column(String(32))  # None: a renewal due, not paid yet
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending", nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the currency's minor unit: kopeks (RUB), whole Stars (XTR)
    currency: Mapped[str] = mapped_column(String(3), default="RUB", server_default="RUB", nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(128))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invoice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)


def pending_renewals(*, bot_ids: list[int] | None = None) -> ColumnElement[bool]:
    """The condition for renewal payments still waiting to be paid (of these bots, if given)."""
    condition = and_(PlatformPayment.purpose == "renewal", PlatformPayment.status == "pending")
    return condition if bot_ids is None else and_(condition, PlatformPayment.bot_id.in_(bot_ids))
