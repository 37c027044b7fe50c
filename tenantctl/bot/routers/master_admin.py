"""The master admins' review of card receipts on the master bot: Approve, or Reject with a reason.

The access check is declared on the router (`HasPermission`, which asks
`tenants.permissions.require`); anyone else's press falls through to the answer any unknown
button gets. The services (`onboarding.payments.receive_card_approval`, `onboarding.service.reject_payment`)
check the permission again. An approval is money arriving: it goes through the payment inbox like Stars.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aiogram import Bot as Client
from aiogram import F
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.bot.keyboards import ReviewAction, ReviewButton
from tenantctl.bot.locales import error_text, pick_language, t
from tenantctl.bot.outbox import Outbox
from tenantctl.bot.routers import HasPermission, Routes, payload_id
from tenantctl.bot.routers.payments import settle_and_tell
from tenantctl.core.app import App
from tenantctl.core.errors import TenantctlError
from tenantctl.onboarding import service as reg
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.onboarding.payments import receive_card_approval
from tenantctl.tenants.permissions import Permission

REJECTING = "rejecting_payment"  # FSM data: the payment whose reject reason this admin is asked for


router = Routes("master_admin", HasPermission(Permission.REVIEW_PLATFORM_PAYMENTS))


async def _writing_reason(message: Message, state: FSMContext) -> dict[str, int] | bool:
    """Passes when this admin was asked for a reject reason, with that `payment_id`."""
    payment_id = (await state.get_data()).get(REJECTING)
    return {"payment_id": payment_id} if payment_id else False


@router.callback_query(ReviewButton.filter(F.action == ReviewAction.APPROVE))
async def approve(query: CallbackQuery, callback_data: ReviewButton, bot: Client, session: AsyncSession, outbox: Outbox, lang: str,
                  app: App, runner: Any = None) -> None:
    """Approve a receipt: the approval is recorded in the payment inbox; once committed, it is settled and everyone told."""
    try:
        row = await receive_card_approval(session, payment_id=callback_data.payment_id, reviewer_id=query.from_user.id,
                                          settings=app.settings)
    except TenantctlError as exc:
        outbox.send(query.answer(error_text(lang, exc), show_alert=True))
        return
    registration = await session.get(TenantRegistration, payload_id(row.payload, "reg:"))
    outbox.send(query.answer())
    if isinstance(query.message, Message):
        outbox.send(query.message.edit_reply_markup(reply_markup=None), best_effort=True)
    outbox.then(partial(_settle_approval, bot, app, row.id, payer=row.payer_telegram_id, payer_lang=pick_language(registration.language, None),
                        reviewer=query.from_user.id, lang=lang, runner=runner))


async def _settle_approval(bot: Client, app: App, inbox_id: int, *, payer: int, payer_lang: str, reviewer: int, lang: str,
                           runner: Any) -> None:
    settled = await settle_and_tell(bot, app, inbox_id, payer=payer, lang=payer_lang, actor=f"tg:{reviewer}", runner=runner)
    if settled is None:
        return
    payment = settled.payment.charge_id.removeprefix("card:")
    if settled.refused is not None:
        text = t(lang, "admin_approve_refused", payment=payment, reason=error_text(lang, settled.refused))
    else:
        text = t(lang, "admin_approved", payment=payment, name=settled.completion.registration.bot_name if settled.completion else "-")
    outbox = Outbox(bot)
    outbox.send(SendMessage(chat_id=reviewer, text=text), best_effort=True)
    await outbox.flush()


@router.callback_query(ReviewButton.filter(F.action == ReviewAction.REJECT))
async def reject(query: CallbackQuery, callback_data: ReviewButton, state: FSMContext, outbox: Outbox, lang: str) -> None:
    """Reject a receipt: first ask for the reason, which the payer will see."""
    await state.set_data({REJECTING: callback_data.payment_id})
    outbox.send(query.answer())
    outbox.send(SendMessage(chat_id=query.from_user.id, text=t(lang, "admin_ask_reason", payment=callback_data.payment_id)))


@router.message(F.text & ~F.text.startswith("/"), _writing_reason)
async def reject_reason(message: Message, payment_id: int, state: FSMContext, session: AsyncSession, outbox: Outbox,
                        lang: str, app: App) -> None:
    """The admin's reason: reject the payment and tell the payer why."""
    await state.set_data({})
    try:
        review = await reg.reject_payment(session, payment_id=payment_id, reviewer_id=message.from_user.id, note=message.text.strip(),
                                          settings=app.settings)
    except TenantctlError as exc:
        outbox.send(message.answer(error_text(lang, exc)))
        return
    payer = review.registration
    outbox.send(SendMessage(chat_id=payer.telegram_user_id, text=t(pick_language(payer.language, None), "user_rejected", reason=review.note)))
    outbox.send(message.answer(t(lang, "admin_rejected", payment=payment_id)))
