"""The payment inbox: money that arrived is recorded first, in a short transaction of its own, then applied or refunded.

Recording is idempotent on (method, charge_id), so Telegram repeating an update, a restart and the
reconciliation with Telegram's ledger all find the one row. Processing (`onboarding.payments`) locks
the row, applies it or opens its refund, and is a no-op on a row that is no longer `received`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.billing.models import (
    APPLIED,
    CARD,
    RECEIVED,
    STARS,
    PaymentInbox,
    PlatformPayment,
    pending_renewals,
)
from tenantctl.billing.service import PaymentResult, record_payment, renewal_stars
from tenantctl.core.db import conflict_insert
from tenantctl.core.errors import Conflict, NotFound
from tenantctl.core.money import format_money
from tenantctl.core.settings import Settings


async def receive_payment(session: AsyncSession, **fields) -> PaymentInbox:
    """Record money that arrived (the PaymentInbox columns as keywords), once: a repeat returns the row already there."""
    insert = conflict_insert(session.bind.dialect.name, PaymentInbox).values(**fields)
    # a no-op update on a repeat, so that RETURNING gives the row either way (one statement)
    upsert = insert.on_conflict_do_update(index_elements=["method", "charge_id"], set_={"charge_id": insert.excluded.charge_id})
    return await session.scalar(upsert.returning(PaymentInbox), execution_options={"populate_existing": True})


async def receive_stars_payment(session: AsyncSession, *, charge_id: str, provider_charge_id: str | None, payer_telegram_id: int,
                                bot_telegram_id: int, payload: str, currency: str, amount: int,
                                source: str = "update") -> PaymentInbox:
    """Record a Stars `successful_payment` (or a charge found in the Star ledger) and nothing else; commit it at once."""
    return await receive_payment(session, method=STARS, charge_id=charge_id, provider_charge_id=provider_charge_id or None,
                                 payer_telegram_id=payer_telegram_id, bot_telegram_id=bot_telegram_id, payload=payload,
                                 currency=currency, amount_minor=amount, source=source)


async def receive_card_receipt(session: AsyncSession, *, charge_id: str, review_status: str, closed: str, **fields) -> PaymentInbox:
    """Record a card receipt a reviewer approved (the other PaymentInbox columns as keywords), once: a repeat returns the
    row already there; a receipt no longer awaiting review is refused (`closed` names why, unless it was rejected)."""
    recorded = await recorded_payment(session, method=CARD, charge_id=charge_id)
    if recorded is not None:
        return recorded
    if review_status != "awaiting_review":
        raise Conflict("already_rejected" if review_status == "rejected" else closed)
    return await receive_payment(session, method=CARD, charge_id=charge_id, source="review", **fields)


async def recorded_payment(session: AsyncSession, *, method: str, charge_id: str) -> PaymentInbox | None:
    """The inbox row of the payment `charge_id`, if it was recorded."""
    return await session.scalar(select(PaymentInbox).where(PaymentInbox.method == method, PaymentInbox.charge_id == charge_id))


async def is_recorded(session: AsyncSession, *, method: str, charge_id: str) -> bool:
    """Whether the payment `charge_id` is in the inbox."""
    found = await session.scalar(select(PaymentInbox.id).where(PaymentInbox.method == method, PaymentInbox.charge_id == charge_id))
    return found is not None


async def lock_inbox(session: AsyncSession, inbox_id: int) -> PaymentInbox:
    """Lock an inbox row and read it fresh in one statement (PostgreSQL's row lock, SQLite's write lock)."""
    row = await session.scalar(
        update(PaymentInbox).where(PaymentInbox.id == inbox_id).values(updated_at=func.now()).returning(PaymentInbox),
        execution_options={"populate_existing": True},
    )
    if row is None:
        raise NotFound(f"no inbox payment {inbox_id}")
    return row


def mark_applied(row: PaymentInbox, payment: PlatformPayment | None, *, now: datetime) -> None:
    """The inbox row reached its effect: `payment` is what it paid for (None: an end user's order)."""
    row.status, row.payment_id, row.processed_at = APPLIED, payment.id if payment else None, now


async def unprocessed(session: AsyncSession, *, received_before: datetime | None = None) -> list[PaymentInbox]:
    """The inbox rows still waiting to be applied or refunded, oldest first. With `received_before`, a row a handler
    recorded since then is left out (the handler settles it once its commit is done, and tells the payer), unless it
    came from Telegram's ledger."""
    query = select(PaymentInbox).where(PaymentInbox.status == RECEIVED)
    if received_before is not None:
        query = query.where(or_(PaymentInbox.created_at <= received_before, PaymentInbox.source == "ledger"))
    return list((await session.scalars(query.order_by(PaymentInbox.id))).all())


async def apply_renewal(session: AsyncSession, *, payment_id: int, charge_id: str, stars: int, currency: str, settings: Settings,
                        actor: str) -> PaymentResult:
    """Stars paid a renewal invoice: extend the subscription (`record_payment`, idempotent on the charge id).

    The invoice must still be pending and the charge must be its price in Stars; `record_payment` then checks
    the amount against the plan's current price. Refusals raise before anything is written.
    """
    payment = await session.scalar(select(PlatformPayment).where(PlatformPayment.method == STARS, PlatformPayment.external_id == charge_id))
    if payment is None:  # not applied before
        payment = await session.scalar(select(PlatformPayment).where(PlatformPayment.id == payment_id, pending_renewals()))
        if payment is None or payment.bot_id is None:
            raise Conflict(f"renewal {payment_id} does not wait for a payment", code="not_payable")
        expected = renewal_stars(payment, settings)
        if (currency, stars) != ("XTR", expected):
            raise Conflict(f"paid {format_money(stars, currency)}, expected {format_money(expected, 'XTR')}", code="amount_mismatch")
    return await record_payment(session, bot_id=payment.bot_id, amount_kopeks=payment.amount_minor, method=STARS,
                                reference=charge_id, actor=actor, payment_id=payment.id)
