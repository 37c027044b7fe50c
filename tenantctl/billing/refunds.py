"""Refunds are rows: opened when a payment cannot be applied, then made through Telegram and retried with backoff.

The executor never holds a transaction across an HTTP call: it claims the refunds due in one short
transaction, calls refundStarPayment with none open, and records each outcome in another. A claim
moves the refund's next attempt ahead, so a second executor (the bot and `billing tick`) leaves it alone
meanwhile; if both still call Telegram, the second call is answered CHARGE_ALREADY_REFUNDED, which
counts as done. The payment becomes `refunded` only when its refund is done.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantctl.audit.service import record
from tenantctl.billing.models import (
    REFUND_DONE,
    REFUND_FAILED,
    REFUND_PENDING,
    REFUNDED,
    REFUNDING,
    STARS,
    PaymentInbox,
    PlatformPayment,
    PlatformRefund,
)
from tenantctl.core.db import run_in_transaction
from tenantctl.core.money import format_money
from tenantctl.tenants.telegram import BotApiError

REFUND_BACKOFF = timedelta(seconds=30)  # after the first failed attempt; doubled after each one
REFUND_BACKOFF_CAP = timedelta(hours=6)
REFUND_MAX_ATTEMPTS = 12  # about two days of retries; then the refund is `failed` and waits for a person
REFUND_CLAIM = timedelta(minutes=2)  # how long a claimed refund is not due for anyone else
ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


class StarsLedger(Protocol):
    """A bot's Telegram Stars account (`tenants.telegram.StarsAccount`); a failed call raises BotApiError."""

    bot_id: int  # the Telegram id of the bot whose account this is

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None: ...

    async def get_star_transactions(self, offset: int, limit: int) -> list[dict[str, Any]]: ...


def fix(action: str, charge_id: str, detail: str) -> dict[str, str]:
    """One line of what a payment run did: an action, the charge it concerns, and what happened."""
    return {"action": action, "charge_id": charge_id, "detail": detail}


async def open_refund(session: AsyncSession, *, row: PaymentInbox, reason: str, now: datetime, actor: str) -> PlatformRefund:
    """The inbox payment cannot be applied: it goes back in full. Stars are refunded from now on; card money by hand."""
    refund = PlatformRefund(inbox_id=row.id, charge_id=row.charge_id, payer_telegram_id=row.payer_telegram_id, currency=row.currency,
                            amount_minor=row.amount_minor, reason=reason, next_attempt_at=now if row.method == STARS else None)
    row.status, row.processed_at = REFUNDING, now
    session.add(refund)
    await session.flush()
    await record(session, actor=actor, action="payment.refund_opened", entity=f"inbox:{row.id}/refund:{refund.id}",
                 after={"charge_id": row.charge_id, "amount": row.amount_minor, "currency": row.currency, "reason": reason})
    return refund


async def finish_refund(session: AsyncSession, refund: PlatformRefund, *, now: datetime, actor: str) -> None:
    """The money is back with the payer: the refund is done, and its payment refunded."""
    refund.status, refund.done_at, refund.next_attempt_at = REFUND_DONE, now, None
    row = await session.get(PaymentInbox, refund.inbox_id)
    row.status = REFUNDED
    if row.payment_id is not None:
        await session.execute(update(PlatformPayment).where(PlatformPayment.id == row.payment_id).values(status=REFUNDED))
    await session.flush()
    await record(session, actor=actor, action="payment.refunded", entity=f"inbox:{row.id}/refund:{refund.id}",
                 after={"charge_id": refund.charge_id, "attempts": refund.attempts})


async def claim_due_refunds(session: AsyncSession, *, now: datetime, bot_telegram_id: int, refund_id: int | None = None,
                            limit: int = 50) -> list[PlatformRefund]:
    """The Stars refunds due now of payments to the bot `bot_telegram_id` (or to no bot recorded: the master's, from before
    tenant bots took payments), or just `refund_id` if due; claimed for REFUND_CLAIM."""
    due = (PlatformRefund.status == REFUND_PENDING, PlatformRefund.next_attempt_at <= now)
    ids = (select(PlatformRefund.id).join(PaymentInbox, PaymentInbox.id == PlatformRefund.inbox_id)
           .where(*due, or_(PaymentInbox.bot_telegram_id == bot_telegram_id, PaymentInbox.bot_telegram_id.is_(None)))
           .order_by(PlatformRefund.id).limit(limit))
    if refund_id is not None:
        ids = ids.where(PlatformRefund.id == refund_id)
    claimed = await session.scalars(
        update(PlatformRefund).where(PlatformRefund.id.in_(ids), *due)  # checked again after a concurrent claim
        .values(next_attempt_at=now + REFUND_CLAIM).returning(PlatformRefund),
        execution_options={"populate_existing": True},
    )
    return sorted(claimed.all(), key=lambda refund: refund.id)


async def record_attempt(session: AsyncSession, *, refund_id: int, error: str | None, now: datetime, actor: str) -> PlatformRefund:
    """What one refundStarPayment call said: done (or already refunded), else the error and the next attempt with backoff."""
    refund = await session.get(PlatformRefund, refund_id, with_for_update=True, populate_existing=True)
    if refund.status != REFUND_PENDING:  # the ledger showed it done meanwhile
        return refund
    refund.attempts += 1
    if error is None or ALREADY_REFUNDED in error:
        await finish_refund(session, refund, now=now, actor=actor)
        return refund
    refund.last_error = error
    if refund.attempts >= REFUND_MAX_ATTEMPTS:
        refund.status, refund.next_attempt_at = REFUND_FAILED, None
    else:
        refund.next_attempt_at = now + min(REFUND_BACKOFF * 2 ** (refund.attempts - 1), REFUND_BACKOFF_CAP)
    await session.flush()
    return refund


async def run_refunds(sessions: async_sessionmaker[AsyncSession], *, ledger: StarsLedger, now: datetime, actor: str,
                      refund_id: int | None = None) -> list[PlatformRefund]:
    """Make every Stars refund due now of payments to the ledger's bot (or just `refund_id`): claim, call Telegram with no
    transaction open, record."""
    claimed = await run_in_transaction(sessions, partial(claim_due_refunds, now=now, bot_telegram_id=ledger.bot_id, refund_id=refund_id))
    attempted = []
    for refund in claimed:
        try:
            await ledger.refund_star_payment(refund.payer_telegram_id, refund.charge_id)
            error = None
        except BotApiError as exc:
            error = str(exc)
        attempted.append(await run_in_transaction(sessions, partial(record_attempt, refund_id=refund.id, error=error, now=now, actor=actor)))
    return attempted


def refund_fix(refund: PlatformRefund) -> dict[str, str]:
    """The line for a refund attempt's outcome."""
    amount = format_money(refund.amount_minor, refund.currency)
    if refund.status == REFUND_DONE:
        return fix("refunded", refund.charge_id, f"refund {refund.id}: {amount} back to user {refund.payer_telegram_id}")
    if refund.status == REFUND_FAILED:
        return fix("refund_failed", refund.charge_id,
                   f"refund {refund.id} of {amount}: gave up after {refund.attempts} attempts ({refund.last_error})")
    return fix("refund_retry", refund.charge_id, f"refund {refund.id} of {amount}: attempt {refund.attempts} failed "
                                                 f"({refund.last_error}); next at {refund.next_attempt_at.isoformat(timespec='seconds')}")


async def list_refunds(session: AsyncSession, *, status: str | None = None) -> list[PlatformRefund]:
    """Every refund (or those in `status`), newest first."""
    query = select(PlatformRefund).order_by(PlatformRefund.id.desc())
    if status is not None:
        query = query.where(PlatformRefund.status == status)
    return list((await session.scalars(query)).all())
