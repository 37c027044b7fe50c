"""The master admins' review of card receipts on the master bot: Approve, or Reject with a reason.

The access check is declared on the router (`MayReviewPayments`, which asks
`tenants.permissions.require`); anyone else's press falls through to the answer any unknown
button gets. `onboarding.service.review_payment` checks the permission again.
"""

from __future__ import annotations

from typing import Any

from aiogram import F
from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message, User
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.bot.keyboards import ReviewAction, ReviewButton
from tenantctl.bot.locales import error_text, pick_language, t
from tenantctl.bot.outbox import Outbox
from tenantctl.bot.routers import Routes
from tenantctl.bot.routers.registration import announce_completion
from tenantctl.core.app import App
from tenantctl.core.errors import Forbidden, TenantctlError
from tenantctl.onboarding import service as reg
from tenantctl.tenants.permissions import Permission, require

REJECTING = "rejecting_payment"  # FSM data: the payment whose reject reason this admin is asked for


class MayReviewPayments(Filter):
    """Passes for whoever may review platform payments (the master admins)."""

    async def __call__(self, event: Any, session: AsyncSession, app: App, event_from_user: User | None = None) -> bool:
        if event_from_user is None:
            return False
        try:
            await require(session, master_admins=app.settings.master_admin_ids, actor_telegram_id=event_from_user.id,
                          bot_id=None, permission=Permission.REVIEW_PLATFORM_PAYMENTS)
        except Forbidden:
            return False
        return True


router = Routes("master_admin", MayReviewPayments())


async def _writing_reason(message: Message, state: FSMContext) -> dict[str, int] | bool:
    """Passes when this admin was asked for a reject reason, with that `payment_id`."""
    payment_id = (await state.get_data()).get(REJECTING)
    return {"payment_id": payment_id} if payment_id else False


@router.callback_query(ReviewButton.filter(F.action == ReviewAction.APPROVE))
async def approve(query: CallbackQuery, callback_data: ReviewButton, session: AsyncSession, outbox: Outbox, lang: str,
                  app: App, runner: Any = None) -> None:
    """Approve a receipt: the registration completes, and its owner gets the bot."""
    try:
        review = await reg.review_payment(session, payment_id=callback_data.payment_id, approve=True, reviewer_id=query.from_user.id,
                                          note=None, settings=app.settings, box=app.secret_box)
    except TenantctlError as exc:
        outbox.send(query.answer(error_text(lang, exc), show_alert=True))
        return
    outbox.send(query.answer())
    announce_completion(outbox, review.completion, runner=runner)
    if isinstance(query.message, Message):
        outbox.send(query.message.edit_reply_markup(reply_markup=None), best_effort=True)
    outbox.send(SendMessage(chat_id=query.from_user.id,
                            text=t(lang, "admin_approved", payment=callback_data.payment_id, name=review.registration.bot_name)))


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
        review = await reg.review_payment(session, payment_id=payment_id, approve=False, reviewer_id=message.from_user.id,
                                          note=message.text.strip(), settings=app.settings, box=app.secret_box)
    except TenantctlError as exc:
        outbox.send(message.answer(error_text(lang, exc)))
        return
    payer = review.registration
    outbox.send(SendMessage(chat_id=payer.telegram_user_id, text=t(pick_language(payer.language, None), "user_rejected", reason=review.note)))
    outbox.send(message.answer(t(lang, "admin_rejected", payment=payment_id)))
