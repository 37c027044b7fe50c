"""Read shapes of the billing domain."""

from __future__ import annotations

from typing import Any

from tenantctl.billing.models import PlatformPayment, PlatformRefund


def payment_as_dict(payment: PlatformPayment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "bot_id": payment.bot_id,
        "purpose": payment.purpose,
        "method": payment.method,
        "status": payment.status,
        "amount": payment.amount_minor,
        "currency": payment.currency,
        "reference": payment.external_id,
        "due_at": payment.due_at.isoformat() if payment.due_at else None,
        "recorded_at": payment.reviewed_at.isoformat() if payment.reviewed_at else None,
    }


def refund_as_dict(refund: PlatformRefund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "status": refund.status,
        "charge_id": refund.charge_id,
        "payer_telegram_id": refund.payer_telegram_id,
        "amount": refund.amount_minor,
        "currency": refund.currency,
        "reason": refund.reason,
        "attempts": refund.attempts,
        "last_error": refund.last_error,
        "next_attempt_at": refund.next_attempt_at.isoformat() if refund.next_attempt_at else None,
        "done_at": refund.done_at.isoformat() if refund.done_at else None,
        "created_at": refund.created_at.isoformat(),
    }
