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


# ----- money arriving: the inbox, and refunds ----------------------------------------------------

INBOX_METHODS = (STARS, CARD)
INBOX_SOURCES = ("update", "ledger", "review")  # a successful_payment, Telegram's Star ledger, a card approval
RECEIVED, APPLIED, REFUNDING, REFUNDED = "received", "applied", "refunding", "refunded"
INBOX_STATUSES = (RECEIVED, APPLIED, REFUNDING, REFUNDED)
REFUND_PENDING, REFUND_DONE, REFUND_FAILED = "pending", "done", "failed"
REFUND_STATUSES = (REFUND_PENDING, REFUND_DONE, REFUND_FAILED)


class PaymentInbox(Timestamps, Base):
    """Money that arrived, recorded before anything else happens; idempotent on (method, charge_id).

    received -> applied (`payment_id` is what it paid for) | refunding -> refunded (see its PlatformRefund).
    """

    __tablename__ = "payment_inbox"
    __table_args__ = (
        CheckConstraint(f"method IN {INBOX_METHODS}", name="method"),
        CheckConstraint(f"source IN {INBOX_SOURCES}", name="source"),
        CheckConstraint(f"status IN {INBOX_STATUSES}", name="status"),
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        UniqueConstraint("method", "charge_id"),
        Index("ix_payment_inbox_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    charge_id: Mapped[str] = mapped_column(String(128), nullable=False)  # telegram_payment_charge_id, or card:<payment id>
    provider_charge_id: Mapped[str | None] = mapped_column(String(128))
    payer_telegram_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    bot_telegram_id: Mapped[int | None] = mapped_column(BigInteger)  # the bot whose invoice was paid
    approved_by: Mapped[int | None] = mapped_column(BigInteger)  # the master admin who approved a card receipt
    payload: Mapped[str] = mapped_column(String(128), nullable=False)  # reg:<registration id> or ren:<payment id>
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)  # whole Stars (XTR), kopeks (RUB)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default=RECEIVED, server_default=RECEIVED, nullable=False)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("platform_payments.id", ondelete="SET NULL"))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PlatformRefund(Timestamps, Base):
    """Money going back, one per inbox row: pending -> done | failed (attempts used up; Telegram's ledger can still
    show it done). Stars refunds are retried with backoff from `next_attempt_at`; a card refund (no next attempt) is paid
    back by hand."""

    __tablename__ = "platform_refunds"
    __table_args__ = (
        CheckConstraint(f"status IN {REFUND_STATUSES}", name="status"),
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        Index("ix_platform_refunds_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("payment_inbox.id"), nullable=False, unique=True)
    charge_id: Mapped[str] = mapped_column(String(128), nullable=False)
    payer_telegram_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default=REFUND_PENDING, server_default=REFUND_PENDING, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
