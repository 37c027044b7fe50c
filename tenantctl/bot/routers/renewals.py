"""Renewals on the master bot: Stars invoices for due renewals, their payment, and expiry notices.

`deliver` runs from the runner's supervisor loop; the handlers take the invoices' payments.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot as Client
from aiogram import F
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import LabeledPrice, Message, PreCheckoutQuery
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.billing import lifecycle
from tenantctl.billing import service as billing
from tenantctl.bot.locales import error_text, t
from tenantctl.bot.outbox import Outbox
from tenantctl.bot.routers import Routes, payload_id
from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.core.errors import TenantctlError
from tenantctl.tenants.telegram import scrub_tokens

log = logging.getLogger(__name__)
router = Routes("renewals")


async def deliver(bot: Client, app: App) -> None:
    """Send every not-yet-invoiced renewal as a Stars invoice, and tell owners of expired tenants.

    The lists are read in one short transaction; each item is marked in its own after it was sent,
    so no transaction stays open across Telegram calls and a failure never re-sends what went out.
    """
    async with app.unit_of_work() as session:
        invoices = await billing.renewals_to_invoice(session)
        expired = await lifecycle.expired_to_notify(session)
    for payment, tenant in invoices:
        lang = tenant.default_language
        title = t(lang, "renewal_title")
        try:
            await bot.send_invoice(tenant.owner_telegram_id, title=title, payload=f"ren:{payment.id}", currency="XTR",
                                   description=t(lang, "renewal_description", name=tenant.name),
                                   prices=[LabeledPrice(label=title, amount=billing.renewal_stars(payment, app.settings))])
        except TelegramAPIError as exc:
            log.warning("renewal invoice %s for bot %s not sent: %s", payment.id, tenant.id, scrub_tokens(str(exc)))
            continue
        async with app.unit_of_work() as session:
            await billing.mark_invoice_sent(session, payment_id=payment.id, now=utcnow())
    for tenant, subscription in expired:
        lang = tenant.default_language
        date = subscription.end_date.date().isoformat() if subscription.end_date else "-"
        try:
            await bot.send_message(tenant.owner_telegram_id, t(lang, "expired_notice", name=tenant.name, date=date))
        except TelegramAPIError as exc:
            log.warning("expiry notice for bot %s not sent: %s", tenant.id, scrub_tokens(str(exc)))
            continue
        async with app.unit_of_work() as session:
            await lifecycle.mark_expiry_notified(session, bot_id=tenant.id)


@router.message(Command("renew"))
async def renew(message: Message, session: AsyncSession, outbox: Outbox, lang: str, runner: Any = None) -> None:
    """Ask for a renewal invoice for each of the user's bots; the supervisor sends them."""
    if not await billing.request_renewals(session, owner_telegram_id=message.from_user.id):
        outbox.send(message.answer(t(lang, "nothing_to_renew")))
    elif runner is not None:
        outbox.then(runner.nudge)


@router.pre_checkout_query(F.invoice_payload.startswith("ren:"))
async def pre_checkout(query: PreCheckoutQuery, session: AsyncSession, outbox: Outbox, lang: str, app: App) -> None:
    """Re-check the renewal is still due for exactly this amount (answered right after the read-only transaction)."""
    try:
        await billing.check_renewal_payable(session, payment_id=payload_id(query.invoice_payload, "ren:"),
                                            telegram_user_id=query.from_user.id, stars=query.total_amount, settings=app.settings)
    except TenantctlError as exc:
        outbox.send(query.answer(ok=False, error_message=error_text(lang, exc)))
        return
    outbox.send(query.answer(ok=True))
