"""/register_tenant on the master bot: the draft's steps, the activation fee, and the admins' review.

Handlers only parse input and format answers; every rule lives in `tenantctl.onboarding.service`.
The FSM state mirrors the draft's step; the draft (in the database) is what counts.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Message, PreCheckoutQuery
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.bot.routers import Routes, queue_refund
from tenantctl.onboarding import service as reg
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.bot.locales import LANGUAGE_NAMES, LANGUAGES, error_text, t
from tenantctl.bot.middlewares import AfterCommit
from tenantctl.core.app import App
from tenantctl.core.errors import Invalid, TenantctlError
from tenantctl.core.money import format_money, normalize_digits
from tenantctl.plans.models import TenantSubscriptionPlan
from tenantctl.tenants.telegram import get_me, scrub_tokens

log = logging.getLogger(__name__)
router = Routes("registration")


class Reg(StatesGroup):
    bot_name = State()
    bot_token = State()
    language = State()
    support = State()
    plan = State()
    payment_method = State()
    confirm = State()
    payment = State()
    review = State()


class AdminReview(StatesGroup):
    reason = State()


def _state_of(draft: TenantRegistration) -> State:
    return {"awaiting_payment": Reg.payment, "awaiting_review": Reg.review}.get(draft.status) or getattr(Reg, draft.step)


def _kb(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=text, callback_data=data) for text, data in row] for row in rows if row
    ])


def _nav(lang: str, *, back: bool = True) -> list[tuple[str, str]]:
    return ([(t(lang, "btn_back"), "reg:back")] if back else []) + [(t(lang, "btn_cancel"), "reg:cancel")]


def _actor(user_id: int) -> str:
    return f"tg:{user_id}"


async def _clear_keyboard(query: CallbackQuery) -> None:
    with suppress(TelegramBadRequest):
        if query.message and query.message.reply_markup:
            await query.message.edit_reply_markup(reply_markup=None)


async def prompt(bot: Bot, chat_id: int, draft: TenantRegistration, *, session: AsyncSession, lang: str,
                 state: FSMContext, app: App) -> None:
    """Show the step the draft is at (with its buttons) and put the conversation in its state."""
    settings, user_id = app.settings, draft.telegram_user_id
    await state.set_state(_state_of(draft))
    if draft.status == "awaiting_review":
        await bot.send_message(chat_id, t(lang, "waiting_review"))
    elif draft.status == "awaiting_payment":
        await _ask_payment(bot, chat_id, draft, session=session, lang=lang)
    elif draft.step == "bot_name":
        await bot.send_message(chat_id, t(lang, "ask_bot_name"), reply_markup=_kb(_nav(lang, back=False)))
    elif draft.step == "bot_token":
        await bot.send_message(chat_id, t(lang, "ask_bot_token"), reply_markup=_kb(_nav(lang)))
    elif draft.step == "language":
        choices = [(LANGUAGE_NAMES[code], f"reg:lang:{code}") for code in LANGUAGES]
        await bot.send_message(chat_id, t(lang, "ask_language"), reply_markup=_kb(choices, _nav(lang)))
    elif draft.step == "support":
        await bot.send_message(chat_id, t(lang, "ask_support"), reply_markup=_kb([(t(lang, "btn_skip"), "reg:skip")], _nav(lang)))
    elif draft.step == "plan":
        offers = await reg.plan_offers(session, settings=settings)
        if not offers:
            await bot.send_message(chat_id, t(lang, "no_plans"), reply_markup=_kb(_nav(lang)))
            return
        lines = [t(lang, "ask_plan")]
        for number, offer in enumerate(offers, 1):
            features = t(lang, "all_features") if offer.features is None else (", ".join(offer.features[:6]) or t(lang, "no_features"))
            if offer.features and len(offer.features) > 6:
                features += f" (+{len(offer.features) - 6})"
            lines.append(f"{number}. " + t(lang, "plan_line", name=offer.plan.display_name, price=format_money(offer.plan.monthly_price_kopeks),
                                           fee=format_money(offer.plan.activation_fee_kopeks), stars=offer.stars, features=features))
        buttons = [[(f"{n}. {o.plan.display_name}", f"reg:plan:{o.plan.id}")] for n, o in enumerate(offers, 1)]
        await bot.send_message(chat_id, "\n".join(lines), reply_markup=_kb(*buttons, _nav(lang)))
    elif draft.step == "payment_method":
        options = await reg.payment_options(session, draft=draft, telegram_user_id=user_id, settings=settings)
        if options.waived:
            await bot.send_message(chat_id, t(lang, "ask_method_waived"), reply_markup=_kb([(t(lang, "btn_waived"), "reg:pay:waived")], _nav(lang)))
            return
        methods = [[(t(lang, "btn_stars", amount=format_money(options.stars, "XTR")), "reg:pay:stars")]]
        if options.card:
            methods.append([(t(lang, "btn_card", amount=format_money(options.fee_kopeks)), "reg:pay:card")])
        await bot.send_message(chat_id, t(lang, "ask_method", fee=format_money(options.fee_kopeks)), reply_markup=_kb(*methods, _nav(lang)))
    elif draft.step == "confirm":
        payment = await reg.pending_payment(session, registration_id=draft.id)
        plan = await session.get(TenantSubscriptionPlan, draft.plan_tier_id)
        paying = t(lang, "waived") if payment is None or payment.method == reg.WAIVED else format_money(payment.amount_minor, payment.currency)
        text = t(lang, "confirm", name=draft.bot_name, username=draft.bot_username, language=LANGUAGE_NAMES.get(draft.language, "-"),
                 support=draft.support_username or t(lang, "none"), plan=plan.display_name if plan else "-", payment=paying)
        await bot.send_message(chat_id, text, reply_markup=_kb([(t(lang, "btn_confirm"), "reg:confirm")], _nav(lang)))


async def _ask_payment(bot: Bot, chat_id: int, draft: TenantRegistration, *, session: AsyncSession, lang: str) -> None:
    payment = await reg.pending_payment(session, registration_id=draft.id)
    if payment is None:
        return
    if payment.method == reg.STARS:
        title = t(lang, "invoice_title")
        plan = await session.get(TenantSubscriptionPlan, draft.plan_tier_id)
        await bot.send_invoice(chat_id, title=title, payload=f"reg:{draft.id}", currency="XTR",
                               description=t(lang, "invoice_description", name=draft.bot_name, plan=plan.display_name if plan else "-"),
                               prices=[LabeledPrice(label=title, amount=payment.amount_minor)])
        await bot.send_message(chat_id, t(lang, "pay_invoice"), reply_markup=_kb(_nav(lang)))
    else:
        card = await reg.card_for_payment(session, payment=payment)
        if card is None:  # every card was withdrawn after the user chose to pay by card
            await bot.send_message(chat_id, error_text(lang, Invalid("card_unavailable")), reply_markup=_kb(_nav(lang)))
            return
        bank = f", {card.bank_name}" if card.bank_name else ""
        text = t(lang, "card_instructions", amount=format_money(payment.amount_minor), card=card.card_number, holder=card.holder_name, bank=bank)
        await bot.send_message(chat_id, text, reply_markup=_kb(_nav(lang)))


async def _current(session: AsyncSession, user_id: int) -> TenantRegistration | None:
    return await reg.open_registration(session, telegram_user_id=user_id)


async def _done(bot: Bot, completion: reg.Completion, lang: str) -> None:
    """Tell the owner their bot is ready; the API token only the first time."""
    user_id = completion.registration.telegram_user_id
    if completion.provisioned is None:
        await bot.send_message(user_id, t(lang, "already_done"))
        return
    bot_row = completion.provisioned.bot
    await bot.send_message(user_id, t(lang, "done", name=bot_row.name, username=bot_row.username,
                                      token=completion.provisioned.api_token_plaintext))


def _user_state(dispatcher: Dispatcher, bot: Bot, user_id: int) -> FSMContext:
    return FSMContext(dispatcher.fsm.storage, StorageKey(bot_id=bot.id, chat_id=user_id, user_id=user_id))


def _after_completion(after_commit: AfterCommit, *, bot: Bot, dispatcher: Dispatcher, runner: Any,
                      completion: reg.Completion, lang: str) -> None:
    user_id = completion.registration.telegram_user_id

    async def finish() -> None:
        await _user_state(dispatcher, bot, user_id).clear()
        if runner is not None:
            runner.nudge()
        await _done(bot, completion, lang)

    after_commit.append(finish)


# ----- commands -----------------------------------------------------------------------------


@router.message(Command("register_tenant"))
async def register(message: Message, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """Start a registration, or resume the user's open one."""
    draft, resumed = await reg.start_registration(session, telegram_user_id=message.from_user.id)
    await message.answer(t(lang, "resumed" if resumed else "start_new"))
    await prompt(bot, message.chat.id, draft, session=session, lang=lang, state=state, app=app)


@router.message(Command("cancel"))
async def cancel_command(message: Message, session: AsyncSession, state: FSMContext, lang: str) -> None:
    """Cancel the open registration, whatever step it is at."""
    cancelled = await reg.cancel(session, telegram_user_id=message.from_user.id)
    await state.clear()
    await message.answer(t(lang, "cancelled" if cancelled else "nothing_to_cancel"))


@router.callback_query(F.data == "reg:cancel")
async def cancel_button(query: CallbackQuery, session: AsyncSession, state: FSMContext, lang: str) -> None:
    """The Cancel button: same as /cancel."""
    cancelled = await reg.cancel(session, telegram_user_id=query.from_user.id)
    await state.clear()
    await query.answer()
    await _clear_keyboard(query)
    await query.message.answer(t(lang, "cancelled" if cancelled else "nothing_to_cancel"))


@router.callback_query(F.data == "reg:back")
async def back(query: CallbackQuery, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """The Back button: one step back."""
    draft = await _current(session, query.from_user.id)
    await query.answer()
    await _clear_keyboard(query)
    if draft is None:
        await query.message.answer(t(lang, "nothing_to_cancel"))
        return
    try:
        draft = await reg.go_back(session, registration_id=draft.id, telegram_user_id=query.from_user.id)
    except TenantctlError as exc:
        await query.message.answer(error_text(lang, exc))
    await prompt(bot, query.message.chat.id, draft, session=session, lang=lang, state=state, app=app)


# ----- payments (before the state handlers: they arrive whatever the state) -----------------


@router.pre_checkout_query(F.invoice_payload.startswith("reg:"))
async def pre_checkout(query: PreCheckoutQuery, session: AsyncSession, lang: str, app: App) -> None:
    """Re-check the registration is still payable for exactly this amount, and answer at once."""
    try:
        await reg.check_payable(session, registration_id=int(query.invoice_payload.removeprefix("reg:")),
                                telegram_user_id=query.from_user.id, currency=query.currency,
                                amount=query.total_amount, settings=app.settings)
    except (TenantctlError, ValueError) as exc:
        await query.answer(ok=False, error_message=error_text(lang, exc))
        return
    await query.answer(ok=True)


@router.message(F.successful_payment.invoice_payload.startswith("reg:"))
async def paid(message: Message, bot: Bot, session: AsyncSession, lang: str, app: App, dispatcher: Dispatcher,
               after_commit: AfterCommit, runner: Any = None) -> None:
    """Stars arrived: complete the registration once, keyed on telegram_payment_charge_id."""
    payment = message.successful_payment
    try:  # a savepoint: if completion is refused now, nothing of it stays and the Stars go back
        async with session.begin_nested():
            completion = await reg.complete_paid_registration(
                session, registration_id=int(payment.invoice_payload.removeprefix("reg:")), method=reg.STARS,
                external_id=payment.telegram_payment_charge_id, amount=payment.total_amount, currency=payment.currency,
                box=app.secret_box, actor=_actor(message.from_user.id))
    except TenantctlError as exc:
        log.warning("paid registration %s refused (%s): refunding", payment.invoice_payload, exc)
        queue_refund(after_commit, bot=bot, message=message, text=t(lang, "refunded_refused", reason=error_text(lang, exc)))
        return
    if completion.refund_due:
        queue_refund(after_commit, bot=bot, message=message, text=t(lang, "refunded"))
        return
    _after_completion(after_commit, bot=bot, dispatcher=dispatcher, runner=runner, completion=completion, lang=lang)


# ----- the steps ----------------------------------------------------------------------------

_TEXT = F.text & ~F.text.startswith("/")


async def _step(message_or_query: Message | CallbackQuery, bot: Bot, session: AsyncSession, state: FSMContext,
                lang: str, app: App, action: Any) -> None:
    """Run one step's service call on the user's draft; on a refusal re-ask with the reason."""
    user_id = message_or_query.from_user.id
    chat_id = (message_or_query.message if isinstance(message_or_query, CallbackQuery) else message_or_query).chat.id
    draft = await _current(session, user_id)
    if draft is None:
        await state.clear()
        await bot.send_message(chat_id, t(lang, "nothing_to_cancel"))
        return
    try:  # services validate before they change anything, so a refusal leaves the draft as it was
        draft = await action(draft)
    except TenantctlError as exc:
        await bot.send_message(chat_id, error_text(lang, exc))
    await prompt(bot, chat_id, draft, session=session, lang=lang, state=state, app=app)


@router.message(Reg.bot_name, _TEXT)
async def bot_name(message: Message, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """Step 1: the bot's name."""
    async def action(draft: TenantRegistration) -> TenantRegistration:
        return await reg.set_bot_name(session, registration_id=draft.id, telegram_user_id=draft.telegram_user_id, name=message.text)

    await _step(message, bot, session, state, lang, app, action)


@router.message(Reg.bot_token, _TEXT)
async def bot_token(message: Message, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """Step 2: the token; cheap refusals first, then getMe, then stored."""
    token = normalize_digits(message.text.strip())

    async def action(draft: TenantRegistration) -> TenantRegistration:
        await reg.check_token_free(session, token=token, registration_id=draft.id)
        try:
            identity = await get_me(app.settings.telegram_api_server, token)
        except Invalid:
            raise Invalid("token_rejected") from None
        return await reg.set_token(session, registration_id=draft.id, telegram_user_id=draft.telegram_user_id,
                                   token=token, identity=identity, box=app.secret_box)

    with suppress(TelegramAPIError):  # the token should not linger in the chat, whatever happens next
        await message.delete()
    await _step(message, bot, session, state, lang, app, action)


@router.callback_query(Reg.language, F.data.startswith("reg:lang:"))
async def language(query: CallbackQuery, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """Step 3: the bot's language; the conversation switches to it too."""
    await query.answer()
    await _clear_keyboard(query)
    code = query.data.removeprefix("reg:lang:")

    async def action(draft: TenantRegistration) -> TenantRegistration:
        return await reg.set_language(session, registration_id=draft.id, telegram_user_id=draft.telegram_user_id, language=code)

    await _step(query, bot, session, state, code if code in LANGUAGES else lang, app, action)


@router.message(Reg.support, _TEXT)
async def support(message: Message, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """Step 4: the support username."""
    async def action(draft: TenantRegistration) -> TenantRegistration:
        return await reg.set_support(session, registration_id=draft.id, telegram_user_id=draft.telegram_user_id, username=message.text)

    await _step(message, bot, session, state, lang, app, action)


@router.callback_query(Reg.support, F.data == "reg:skip")
async def support_skip(query: CallbackQuery, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """Step 4: Skip (no support username)."""
    await query.answer()
    await _clear_keyboard(query)

    async def action(draft: TenantRegistration) -> TenantRegistration:
        return await reg.set_support(session, registration_id=draft.id, telegram_user_id=draft.telegram_user_id, username=None)

    await _step(query, bot, session, state, lang, app, action)


async def _choose_plan(event: Message | CallbackQuery, plan_id: int, bot: Bot, session: AsyncSession, state: FSMContext,
                       lang: str, app: App) -> None:
    async def action(draft: TenantRegistration) -> TenantRegistration:
        return await reg.set_plan(session, registration_id=draft.id, telegram_user_id=draft.telegram_user_id, plan_id=plan_id)

    await _step(event, bot, session, state, lang, app, action)


@router.callback_query(Reg.plan, F.data.startswith("reg:plan:"))
async def plan_button(query: CallbackQuery, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """Step 5: a plan button."""
    await query.answer()
    await _clear_keyboard(query)
    await _choose_plan(query, int(query.data.removeprefix("reg:plan:")), bot, session, state, lang, app)


@router.message(Reg.plan, _TEXT)
async def plan_number(message: Message, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """Step 5: the plan's number typed (Persian digits too)."""
    offers = await reg.plan_offers(session, settings=app.settings)
    number = normalize_digits(message.text.strip()).removesuffix(".")
    plan_id = offers[int(number) - 1].plan.id if number.isdigit() and 1 <= int(number) <= len(offers) else 0
    await _choose_plan(message, plan_id, bot, session, state, lang, app)


@router.callback_query(Reg.payment_method, F.data.startswith("reg:pay:"))
async def payment_method(query: CallbackQuery, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """Step 6: Stars, card, or (for a master admin) waived."""
    await query.answer()
    await _clear_keyboard(query)
    method = {"stars": reg.STARS, "card": reg.CARD, "waived": reg.WAIVED}.get(query.data.removeprefix("reg:pay:"), "")

    async def action(draft: TenantRegistration) -> TenantRegistration:
        await reg.choose_payment(session, registration_id=draft.id, telegram_user_id=draft.telegram_user_id,
                                 method=method, settings=app.settings)
        return draft

    await _step(query, bot, session, state, lang, app, action)


@router.callback_query(Reg.confirm, F.data == "reg:confirm")
async def confirmed(query: CallbackQuery, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App,
                    dispatcher: Dispatcher, after_commit: AfterCommit, runner: Any = None) -> None:
    """Step 7: confirmed; now the invoice, the card, or (waived) the tenant at once."""
    await query.answer()
    await _clear_keyboard(query)
    draft = await _current(session, query.from_user.id)
    try:
        draft, payment = await reg.confirm(session, registration_id=draft.id if draft else 0, telegram_user_id=query.from_user.id)
    except TenantctlError as exc:
        await query.message.answer(error_text(lang, exc))
        return
    if payment.method == reg.WAIVED:
        completion = await reg.complete_waived(session, registration_id=draft.id, telegram_user_id=query.from_user.id,
                                               box=app.secret_box, actor=_actor(query.from_user.id))
        _after_completion(after_commit, bot=bot, dispatcher=dispatcher, runner=runner, completion=completion, lang=lang)
        return
    await prompt(bot, query.message.chat.id, draft, session=session, lang=lang, state=state, app=app)


@router.message(StateFilter(Reg.payment, Reg.review), F.photo | _TEXT)
async def receipt(message: Message, bot: Bot, session: AsyncSession, lang: str, app: App, after_commit: AfterCommit) -> None:
    """A card-to-card receipt (photo or text): every master admin gets it with Approve / Reject."""
    draft = await _current(session, message.from_user.id)
    if draft is not None and draft.status == "awaiting_review":
        await message.answer(t(lang, "waiting_review"))
        return
    if draft is None or draft.payment_method != reg.CARD:
        await message.answer(t(lang, "pay_invoice"))
        return
    photo = message.photo[-1].file_id if message.photo else None
    try:
        payment = await reg.submit_receipt(session, registration_id=draft.id, telegram_user_id=message.from_user.id,
                                           photo_file_id=photo, text=message.text)
    except TenantctlError as exc:
        await message.answer(error_text(lang, exc))
        return
    plan = await session.get(TenantSubscriptionPlan, draft.plan_tier_id)
    details = {"payment": payment.id, "name": draft.bot_name, "username": draft.bot_username, "user": draft.telegram_user_id,
               "plan": plan.display_name if plan else "-", "amount": format_money(payment.amount_minor, payment.currency)}

    async def notify() -> None:
        await message.answer(t(lang, "receipt_received"))
        for admin_id in sorted(app.settings.master_admin_ids):
            text = t("en", "admin_receipt", receipt=t("en", "receipt_photo") if photo else message.text, **details)
            keyboard = _kb([(t("en", "btn_approve"), f"rv:a:{payment.id}"), (t("en", "btn_reject"), f"rv:r:{payment.id}")])
            try:
                if photo:
                    await bot.send_photo(admin_id, photo, caption=text[:1024], reply_markup=keyboard)
                else:
                    await bot.send_message(admin_id, text, reply_markup=keyboard)
            except TelegramAPIError as exc:  # an admin who never opened the bot
                log.warning("cannot send receipt %s to admin %s: %s", payment.id, admin_id, scrub_tokens(str(exc)))

    after_commit.append(notify)


# ----- the master admins' review ------------------------------------------------------------


@router.callback_query(F.data.startswith("rv:"))
async def review_button(query: CallbackQuery, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App,
                        dispatcher: Dispatcher, after_commit: AfterCommit, runner: Any = None) -> None:
    """Approve or Reject a receipt; refused server-side unless the presser is a master admin."""
    if query.from_user.id not in app.settings.master_admin_ids:
        await query.answer(t(lang, "not_master_admin"), show_alert=True)
        return
    _, action, payment_id = query.data.split(":")
    if action == "r":
        await state.set_state(AdminReview.reason)
        await state.update_data(payment_id=int(payment_id))
        await query.answer()
        await query.message.answer(t(lang, "admin_ask_reason", payment=payment_id))
        return
    try:
        review = await reg.review_payment(session, payment_id=int(payment_id), approve=True, reviewer_id=query.from_user.id,
                                          note=None, settings=app.settings, box=app.secret_box)
    except TenantctlError as exc:
        await query.answer(error_text(lang, exc), show_alert=True)
        return
    await query.answer()
    user_lang = review.registration.language or "en"
    _after_completion(after_commit, bot=bot, dispatcher=dispatcher, runner=runner, completion=review.completion, lang=user_lang)

    async def tell_admin() -> None:
        await _clear_keyboard(query)
        await query.message.answer(t(lang, "admin_approved", payment=payment_id, name=review.registration.bot_name))

    after_commit.append(tell_admin)


@router.message(AdminReview.reason, _TEXT)
async def reject_reason(message: Message, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App,
                        after_commit: AfterCommit) -> None:
    """The admin's reason: reject the payment and tell the user why."""
    payment_id = (await state.get_data()).get("payment_id", 0)
    await state.clear()
    try:
        review = await reg.review_payment(session, payment_id=payment_id, approve=False, reviewer_id=message.from_user.id,
                                          note=message.text.strip(), settings=app.settings, box=app.secret_box)
    except TenantctlError as exc:
        await message.answer(error_text(lang, exc))
        return
    user_id, user_lang = review.registration.telegram_user_id, review.registration.language or "en"

    async def notify() -> None:
        await bot.send_message(user_id, t(user_lang, "user_rejected", reason=review.note))
        await message.answer(t(lang, "admin_rejected", payment=payment_id))

    after_commit.append(notify)


# ----- wrong input: re-ask with the reason --------------------------------------------------


@router.message(StateFilter(Reg.bot_name, Reg.bot_token, Reg.language, Reg.support, Reg.plan, Reg.payment_method, Reg.confirm))
async def wrong_input(message: Message, bot: Bot, session: AsyncSession, state: FSMContext, lang: str, app: App) -> None:
    """Anything else in a step: say what is expected and show the step again."""
    draft = await _current(session, message.from_user.id)
    if draft is None:
        await state.clear()
        return
    reason = "language_unknown" if draft.step in ("language", "plan", "payment_method", "confirm") else "name_length"
    if draft.step == "bot_token":
        reason = "token_format"
    elif draft.step == "support":
        reason = "support_invalid"
    await message.answer(t(lang, "error_prefix", reason=t(lang, reason)))
    await prompt(bot, message.chat.id, draft, session=session, lang=lang, state=state, app=app)


@router.callback_query(F.data.startswith("reg:"))
async def stale_button(query: CallbackQuery, lang: str) -> None:
    """A button from an earlier step."""
    await query.answer(t(lang, "step_out_of_order"), show_alert=True)


@router.message(Command("start"))
async def start(message: Message, lang: str) -> None:
    """The master bot's greeting."""
    await message.answer(t(lang, "master_welcome"))
