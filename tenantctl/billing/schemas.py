"""Read shapes of the billing domain."""

from __future__ import annotations

from typing import Any

from tenantctl.billing.models import PlatformPayment


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
