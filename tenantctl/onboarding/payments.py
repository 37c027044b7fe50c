"""Money arriving for the platform, from the inbox to its effect: an activation completed, a renewal paid, or a refund.

1. Record it, and nothing else, in a transaction of its own: `billing.inbox.receive_stars_payment` for a
   Stars `successful_payment`, `receive_card_approval` for a card receipt a master admin approved.
2. `process_payment`, in a transaction of its own: "reg:<registration id>" completes that registration,
   "ren:<payment id>" pays that renewal, "buy:<order id>" pays an end user's order (`billing.storefront`). A refusal keeps nothing of the attempt (a savepoint) but its refund row.
3. The refund is made with no transaction open (`billing.refunds.run_refunds`).

`settle_payment` runs steps 2 and 3 for one payment (the bot, right after step 1 commits); `reconcile`
compares Telegram's Star ledger with the inbox and runs steps 2 and 3 for everything still open.
Processing lives here, above billing, because a registration is completed by onboarding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantctl.billing.inbox import (
    apply_renewal,
    lock_inbox,
    mark_applied,
    receive_card_receipt,
    unprocessed,
)
from tenantctl.billing.ledger import read_ledger, sync_with_ledger
from tenantctl.billing.models import (
    CARD,
    RECEIVED,
    STARS,
    PaymentInbox,
    PlatformPayment,
    PlatformRefund,
)
from tenantctl.billing.refunds import (
    StarsLedger,
    fix,
    open_refund,
    refund_fix,
    run_refunds,
)
from tenantctl.billing.service import PaymentResult
from tenantctl.billing.storefront import OrderPaid, apply_order
from tenantctl.core.crypto import SecretBox
from tenantctl.core.db import run_in_transaction, utcnow
from tenantctl.core.errors import NotFound, TenantctlError
from tenantctl.core.money import format_money
from tenantctl.core.settings import Settings
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.onboarding.service import (
    Completion,
    complete_paid_registration,
)
from tenantctl.tenants.permissions import Permission, require


async def receive_card_approval(session: AsyncSession, *, payment_id: int, reviewer_id: int, settings: Settings) -> PaymentInbox:
    """A master admin approved a card receipt: record it in the inbox (once) and nothing else; commit it at once."""
    await require(session, master_admins=settings.master_admin_ids, actor_telegram_id=reviewer_id, bot_id=None,
                  permission=Permission.REVIEW_PLATFORM_PAYMENTS)
    payment = await session.get(PlatformPayment, payment_id)
    if payment is None or payment.registration_id is None or payment.method != CARD:
        raise NotFound("payment_unknown")
    registration = await session.get(TenantRegistration, payment.registration_id)
    return await receive_card_receipt(session, charge_id=f"card:{payment.id}", review_status=payment.status, closed="not_payable",
                                      payer_telegram_id=registration.telegram_user_id, approved_by=reviewer_id,
                                      payload=f"reg:{registration.id}", currency=payment.currency, amount_minor=payment.amount_minor)


@dataclass
class Settled:
    """An inbox payment after processing: applied (`completion`, `renewal` or an end user's `order`), to be refunded
    (`refund`, `refused` says why), or processed before (none)."""

    payment: PaymentInbox
    completion: Completion | None = None
    renewal: PaymentResult | None = None
    order: OrderPaid | None = None
    refund: PlatformRefund | None = None
    refused: TenantctlError | None = None


async def _apply(session: AsyncSession, row: PaymentInbox, *, box: SecretBox, settings: Settings,
                 actor: str) -> Completion | PaymentResult | OrderPaid:
    kind, _, number = row.payload.partition(":")
    target = int(number) if number.isdigit() else 0
    if kind == "reg":
        completion = await complete_paid_registration(session, registration_id=target, method=row.method, external_id=row.charge_id,
                                                      amount=row.amount_minor, currency=row.currency, box=box, actor=actor,
                                                      stars_rate_kopeks=settings.stars_rate_kopeks)
        if row.approved_by is not None:
            completion.payment.reviewed_by = row.approved_by
        return completion
    if kind == "buy":
        return await apply_order(session, order_id=target, method=row.method, charge_id=row.charge_id, amount=row.amount_minor,
                                 currency=row.currency, approved_by=row.approved_by, actor=actor, now=utcnow())
    if kind == "ren" and row.method == STARS:
        return await apply_renewal(session, payment_id=target, charge_id=row.charge_id, stars=row.amount_minor, currency=row.currency,
                                   settings=settings, actor=actor)
    raise NotFound(f"no invoice {row.payload!r} to pay", code="payment_unknown")


async def process_payment(session: AsyncSession, *, inbox_id: int, box: SecretBox, settings: Settings, actor: str,
                          now: datetime | None = None) -> Settled:
    """One attempt at an inbox payment, in the caller's transaction: apply it, or (refused) open its refund in full."""
    now = now or utcnow()
    row = await lock_inbox(session, inbox_id)
    if row.status != RECEIVED:
        return Settled(row)
    try:
        async with session.begin_nested():
            applied = await _apply(session, row, box=box, settings=settings, actor=actor)
    except TenantctlError as exc:
        refund = await open_refund(session, row=row, reason=str(exc), now=now, actor=actor)
        return Settled(row, refund=refund, refused=exc)
    mark_applied(row, applied.payment, now=now)
    await session.flush()
    if isinstance(applied, Completion):
        return Settled(row, completion=applied)
    if isinstance(applied, OrderPaid):
        return Settled(row, order=applied)
    return Settled(row, renewal=applied)


async def settle_payment(sessions: async_sessionmaker[AsyncSession], *, inbox_id: int, ledger: StarsLedger, box: SecretBox,
                         settings: Settings, actor: str) -> Settled:
    """Process one inbox payment in a transaction of its own, then make the Stars refund it opened at once (none open)."""
    now = utcnow()
    settled = await run_in_transaction(sessions, partial(process_payment, inbox_id=inbox_id, box=box, settings=settings, actor=actor, now=now))
    if settled.refund is not None and settled.refund.next_attempt_at is not None:
        made = await run_refunds(sessions, ledger=ledger, now=now, actor=actor, refund_id=settled.refund.id)
        settled.refund = made[0] if made else settled.refund
    return settled


def settled_fix(settled: Settled) -> dict[str, str] | None:
    """The line for a processed payment (None: it was processed before)."""
    row = settled.payment
    if settled.refund is not None:
        return fix("refund_opened", row.charge_id, f"{format_money(row.amount_minor, row.currency)} from user {row.payer_telegram_id} "
                                                   f"for {row.payload} to be refunded: {settled.refund.reason}")
    if settled.completion is not None:
        return fix("applied", row.charge_id, f"{row.payload}: registration {settled.completion.registration.id} completed, "
                                             f"bot {settled.completion.registration.bot_id}")
    if settled.renewal is not None:
        return fix("applied", row.charge_id, f"{row.payload}: bot {settled.renewal.subscription.bot_id} paid until "
                                             f"{settled.renewal.subscription.end_date.date().isoformat()}")
    if settled.order is not None:
        return fix("applied", row.charge_id, f"{row.payload}: bot {settled.order.order.bot_id}, user {row.payer_telegram_id} subscribed "
                                             f"until {settled.order.subscription.end_date.date().isoformat()}")
    return None


@dataclass
class Reconciliation:
    """What `reconcile` read and did: one line (action, charge id, detail) per change or problem, and the payments it
    settled (their payers not told yet: the bot that took them was not there to)."""

    transactions: int = 0
    fixes: list[dict[str, str]] = field(default_factory=list)
    settled: list[Settled] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"transactions": self.transactions, "fixes": self.fixes}


async def reconcile(sessions: async_sessionmaker[AsyncSession], *, ledger: StarsLedger, box: SecretBox, settings: Settings,
                    actor: str, now: datetime | None = None, min_age: timedelta = timedelta(0)) -> Reconciliation:
    """Every incoming Stars charge gets one inbox row and one terminal outcome: record the charges Telegram's ledger shows
    and the inbox lacks, confirm the refunds it shows made, process every payment still open, make the refunds due.

    Each step is a short transaction of its own, and no transaction is open during a Bot API call. Charges
    the inbox lacks are recorded, and payments a handler recorded are settled, once they are `min_age` old (a running
    bot may be recording or settling them now).
    """
    now = now or utcnow()
    found = await read_ledger(ledger)
    report = Reconciliation(transactions=found.transactions)
    report.fixes += await run_in_transaction(sessions, partial(sync_with_ledger, ledger=found, bot_telegram_id=ledger.bot_id, now=now,
                                                               actor=actor, min_age=min_age))
    for row in await run_in_transaction(sessions, partial(unprocessed, received_before=now - min_age if min_age else None)):
        try:
            settled = await run_in_transaction(sessions, partial(process_payment, inbox_id=row.id, box=box, settings=settings, actor=actor,
                                                                 now=now))
        except Exception as exc:  # one payment that cannot be processed must not hold up the others: it stays received
            report.fixes.append(fix("not_processed", row.charge_id, f"inbox payment {row.id}: {type(exc).__name__}: {exc}"))
            continue
        if line := settled_fix(settled):
            report.fixes.append(line)
            report.settled.append(settled)
    report.fixes += [refund_fix(refund) for refund in await run_refunds(sessions, ledger=ledger, now=now, actor=actor)]
    return report
