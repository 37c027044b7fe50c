"""Money arriving at a bot: recorded first, settled after the commit, the payer told the outcome.

A Stars `successful_payment` (an activation fee or a renewal on the master bot, an end user's order on a tenant bot)
is written to the payment inbox in the
update's own transaction and nothing else happens in it. Once that has committed, the payment is
settled (`onboarding.payments.settle_payment`: applied, or refunded with the reason) in transactions
of its own, and only then is anyone told. If the process dies in between, the inbox row, or failing
that Telegram's Star ledger, brings the payment to `reconcile`, which the runner runs every few minutes; the runner
then tells the payer (`tell_reconciled`), as the bot would have.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from aiogram import Bot as Client
from aiogram import F
from aiogram.methods import SendMessage
from aiogram.types import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.billing.inbox import receive_stars_payment
from tenantctl.billing.models import APPLIED, REFUND_DONE, STARS
from tenantctl.bot.locales import error_text, pick_language, t
from tenantctl.bot.outbox import Outbox
from tenantctl.bot.routers import Routes
from tenantctl.core.app import App
from tenantctl.customers.models import User
from tenantctl.onboarding.payments import Settled, settle_payment
from tenantctl.onboarding.service import open_registration_and_language
from tenantctl.tenants.models import Bot
from tenantctl.tenants.telegram import StarsAccount, scrub_tokens

log = logging.getLogger(__name__)
router = Routes("payments")


def announce_completion(outbox: Outbox, completion: Any, *, runner: Any) -> None:
    """The supervisor starts the new bot, and the owner is told (the API token only the first time)."""
    if runner is not None:
        outbox.then(runner.nudge)
    registration = completion.registration
    lang = pick_language(registration.language, None)
    if completion.provisioned is None:
        text = t(lang, "already_done")
    else:
        bot_row = completion.provisioned.bot
        text = t(lang, "done", name=bot_row.name, username=bot_row.username, token=completion.provisioned.api_token_plaintext)
    outbox.send(SendMessage(chat_id=registration.telegram_user_id, text=text))


async def _tell(outbox: Outbox, settled: Settled, *, app: App, lang: str, runner: Any) -> None:
    """Queue what the payer is told about a settled payment."""
    row = settled.payment
    payer = row.payer_telegram_id
    if settled.completion is not None:
        announce_completion(outbox, settled.completion, runner=runner)
    elif settled.renewal is not None:
        subscription = settled.renewal.subscription
        async with app.unit_of_work() as session:
            name = (await session.get(Bot, subscription.bot_id)).name
        outbox.send(SendMessage(chat_id=payer, text=t(lang, "renewal_paid", name=name, date=subscription.end_date.date().isoformat())))
        if runner is not None:
            outbox.then(runner.nudge)
    elif settled.order is not None:
        paid = settled.order
        outbox.send(SendMessage(chat_id=payer, text=t(lang, "sf_paid", plan=paid.plan.name, date=paid.subscription.end_date.date().isoformat())))
        if runner is not None:  # the panel job it queued: at once
            outbox.then(runner.nudge)
    elif settled.refund is not None:
        key = ("refunded_refused" if settled.refund.status == REFUND_DONE
               else "refund_scheduled" if row.method == STARS else "card_refund_by_hand")
        outbox.send(SendMessage(chat_id=payer, text=t(lang, key, reason=error_text(lang, settled.refused))))
    elif row.status == APPLIED and row.payload.startswith("reg:"):  # Telegram repeated the update
        outbox.send(SendMessage(chat_id=payer, text=t(lang, "already_done")))


async def settle_and_tell(bot: Client, app: App, inbox_id: int, *, payer: int, lang: str, actor: str, runner: Any = None) -> Settled | None:
    """After the inbox row committed: settle it, then tell the payer (in `lang`). A failure leaves the row for `reconcile`."""
    outbox = Outbox(bot)
    try:
        settled = await settle_payment(app.sessions, inbox_id=inbox_id, ledger=StarsAccount(app.settings.telegram_api_server, bot.token),
                                       box=app.secret_box, settings=app.settings, actor=actor)
    except Exception as exc:  # the payment is safe in the inbox; the runner's reconcile settles it
        log.error("inbox payment %s recorded, not yet settled: %s", inbox_id, scrub_tokens(f"{type(exc).__name__}: {exc}"))
        settled = None
        outbox.send(SendMessage(chat_id=payer, text=t(lang, "payment_recorded")), best_effort=True)
    else:
        await _tell(outbox, settled, app=app, lang=lang, runner=runner)
    await outbox.flush()
    return settled


async def payer_language(session: AsyncSession, *, telegram_id: int, tenant_id: int | None) -> str:
    """The language to write to a payer in outside an update of theirs: on the master bot (`tenant_id` None) the one
    they chose in a registration, on a tenant bot Telegram's language_code as last seen there."""
    if tenant_id is None:
        return pick_language((await open_registration_and_language(session, telegram_user_id=telegram_id))[1], None)
    code = await session.scalar(select(User.language_code).where(User.bot_id == tenant_id, User.telegram_id == telegram_id))
    return pick_language(None, code)


async def tell_reconciled(bot: Client, app: App, settled: Settled, *, tenant_id: int | None, runner: Any = None) -> None:
    """Tell the payer of a payment `reconcile` settled what became of it, from `bot`, the bot it was paid to (`tenant_id`
    None: the master); an activation's owner gets the new API token, which nobody else has seen."""
    async with app.unit_of_work() as session:
        lang = await payer_language(session, telegram_id=settled.payment.payer_telegram_id, tenant_id=tenant_id)
    outbox = Outbox(bot)
    await _tell(outbox, settled, app=app, lang=lang, runner=runner)
    await outbox.flush()


@router.message(F.successful_payment)
async def paid(message: Message, bot: Client, session: AsyncSession, outbox: Outbox, lang: str, app: App, runner: Any = None) -> None:
    """Stars arrived (an activation fee, a renewal, an order): record them, and settle them once that is committed."""
    payment = message.successful_payment
    row = await receive_stars_payment(session, charge_id=payment.telegram_payment_charge_id,
                                      provider_charge_id=payment.provider_payment_charge_id, payer_telegram_id=message.from_user.id,
                                      bot_telegram_id=bot.id, payload=payment.invoice_payload, currency=payment.currency,
                                      amount=payment.total_amount)
    outbox.then(partial(settle_and_tell, bot, app, row.id, payer=message.from_user.id, lang=lang, actor=f"tg:{message.from_user.id}",
                        runner=runner))
