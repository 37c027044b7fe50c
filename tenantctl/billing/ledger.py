"""Telegram's Star ledger of the master bot, read page by page and compared with the inbox and the refunds.

An incoming invoice payment (`source`: a user, with the invoice payload) is a charge; an outgoing
transaction to a user (`receiver`) with a charge's id is that charge refunded (the Bot API gives a
refund the id of the transaction it refunds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.billing.inbox import receive_stars_payment
from tenantctl.billing.models import (
    APPLIED,
    RECEIVED,
    REFUND_DONE,
    REFUNDED,
    STARS,
    PaymentInbox,
    PlatformRefund,
)
from tenantctl.billing.refunds import StarsLedger, finish_refund, fix, open_refund
from tenantctl.core.money import format_money

LEDGER_PAGE = 100  # the most getStarTransactions returns at once


@dataclass(frozen=True)
class LedgerCharge:
    """An incoming Stars payment for one of the bot's invoices, as the ledger shows it."""

    charge_id: str
    payer_telegram_id: int
    payload: str
    amount: int
    date: int  # unix time of the payment


@dataclass
class Ledger:
    """The charges (by charge id) and the refunded charge ids in a bot's Star transactions."""

    transactions: int
    charges: dict[str, LedgerCharge]
    refunded: set[str]


async def read_ledger(account: StarsLedger) -> Ledger:
    """Every page of the account's Star transactions (call it with no transaction open)."""
    entries: list[dict[str, Any]] = []
    while True:
        page = await account.get_star_transactions(len(entries), LEDGER_PAGE)
        entries += page
        if len(page) < LEDGER_PAGE:
            break
    ledger = Ledger(len(entries), {}, set())
    for entry in entries:
        source, receiver = entry.get("source") or {}, entry.get("receiver") or {}
        if source.get("type") == "user" and source.get("invoice_payload") is not None:
            ledger.charges[entry["id"]] = LedgerCharge(entry["id"], source["user"]["id"], source["invoice_payload"], entry["amount"],
                                                       int(entry.get("date") or 0))
        elif receiver.get("type") == "user":
            ledger.refunded.add(entry["id"])
    return ledger


async def sync_with_ledger(session: AsyncSession, *, ledger: Ledger, bot_telegram_id: int, now: datetime, actor: str,
                           min_age: timedelta = timedelta(0)) -> list[dict[str, str]]:
    """Record the charges the inbox never received, and settle the refunds the ledger shows made; the lines of what changed.

    Charges younger than `min_age` are left to the bot, which may be handling their update right now
    (and only the bot can hand the new owner their API token).

    A charge refunded before it was processed (by hand, or before the inbox existed) is refunded with its reason;
    one applied and yet refunded is reported, not changed: a person must decide.
    """
    fixes = []
    known = set((await session.scalars(select(PaymentInbox.charge_id).where(PaymentInbox.method == STARS))).all())
    newest = (now - min_age).timestamp()
    for charge in ledger.charges.values():
        if charge.charge_id in known or charge.date > newest:
            continue
        await receive_stars_payment(session, charge_id=charge.charge_id, provider_charge_id=None, payer_telegram_id=charge.payer_telegram_id,
                                    bot_telegram_id=bot_telegram_id, payload=charge.payload, currency="XTR", amount=charge.amount,
                                    source="ledger")
        fixes.append(fix("recorded", charge.charge_id, f"{format_money(charge.amount, 'XTR')} from user {charge.payer_telegram_id} "
                                                       f"for {charge.payload}, never received: recorded"))
    rows = (await session.execute(
        select(PaymentInbox, PlatformRefund).outerjoin(PlatformRefund, PlatformRefund.inbox_id == PaymentInbox.id)
        .where(PaymentInbox.method == STARS, PaymentInbox.charge_id.in_(ledger.refunded), PaymentInbox.status != REFUNDED)
        .order_by(PaymentInbox.id)
    )).all()
    for row, refund in rows:
        if row.status == APPLIED:
            fixes.append(fix("conflict", row.charge_id, f"applied (payment {row.payment_id}), yet refunded in Telegram's ledger: not changed"))
            continue
        if row.status == RECEIVED:
            refund = await open_refund(session, row=row, reason="refunded outside tenantctl (Telegram's ledger)", now=now, actor=actor)
        if refund.status != REFUND_DONE:
            await finish_refund(session, refund, now=now, actor=actor)
            fixes.append(fix("refund_confirmed", row.charge_id, f"refund {refund.id}: Telegram's ledger shows it made"))
    return fixes
