"""/register_tenant on the master bot: the draft's steps and the activation fee.

The durable draft is the one state machine: DraftMiddleware loads the user's open registration
once per update (`draft`), and `DraftStep` routes on its step. Handlers only parse input and
queue their answers in the outbox; every rule lives in `tenantctl.onboarding.service`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiogram import Bot, F
from aiogram.filters import Command, Filter, or_f
from aiogram.methods import SendInvoice, SendMessage, SendPhoto
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.billing.models import PlatformPayment
from tenantctl.bot.keyboards import (
    REGISTRATION_BUTTONS,
    LanguageButton,
    PaymentButton,
    PlanButton,
    RegAction,
    RegButton,
    languages_row,
    review_keyboard,
    step_keyboard,
)
from tenantctl.bot.locales import LANGUAGE_NAMES, error_text, pick_language, t
from tenantctl.bot.outbox import Outbox, unit_of_work
from tenantctl.bot.routers import Routes, payload_id
from tenantctl.bot.routers.payments import announce_completion
from tenantctl.core.app import App
from tenantctl.core.errors import Invalid, TenantctlError
from tenantctl.core.money import format_money, normalize_digits
from tenantctl.onboarding import service as reg
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.plans.models import TenantSubscriptionPlan
from tenantctl.tenants.telegram import get_me

router = Routes("registration")
_TEXT = F.text & ~F.text.startswith("/")
Step = Callable[[], Awaitable[TenantRegistration]]


class DraftStep(Filter):
    """Passes when the user's open draft (DraftMiddleware's `draft`) is at one of `steps`."""

    def __init__(self, *steps: str) -> None:
        self.steps = steps

    async def __call__(self, event: Any, draft: TenantRegistration | None = None) -> bool:
        return draft is not None and draft.step in self.steps


def _actor(user_id: int) -> str:
    return f"tg:{user_id}"


def _chat_id(event: Message | CallbackQuery) -> int:
    message = event.message if isinstance(event, CallbackQuery) else event
    return message.chat.id if message is not None else event.from_user.id


def _pressed(outbox: Outbox, query: CallbackQuery) -> None:
    """Answer the press, and take the buttons off the message they were on."""
    outbox.send(query.answer())
    if isinstance(query.message, Message) and query.message.reply_markup:
        outbox.send(query.message.edit_reply_markup(reply_markup=None), best_effort=True)


async def _plan(session: AsyncSession, draft: TenantRegistration) -> TenantSubscriptionPlan | None:
    return await session.get(TenantSubscriptionPlan, draft.plan_tier_id) if draft.plan_tier_id else None


async def prompt(outbox: Outbox, chat_id: int, draft: TenantRegistration, *, session: AsyncSession, lang: str, app: App,
                 payment: PlatformPayment | None = None) -> None:
    """Queue the question of the step the draft is at, with its buttons (`payment`: its open payment, if known)."""
    def say(text: str, markup: Any = None) -> None:
        outbox.send(SendMessage(chat_id=chat_id, text=text, reply_markup=markup))

    if draft.step == "review":
        say(t(lang, "waiting_review"))
    elif draft.step == "payment":
        await _ask_payment(outbox, chat_id, draft, session=session, lang=lang, payment=payment)
    elif draft.step == "bot_name":
        say(t(lang, "ask_bot_name"), step_keyboard(lang, back=False))
    elif draft.step == "bot_token":
        say(t(lang, "ask_bot_token"), step_keyboard(lang))
    elif draft.step == "language":
        say(t(lang, "ask_language"), step_keyboard(lang, languages_row()))
    elif draft.step == "support":
        say(t(lang, "ask_support"), step_keyboard(lang, [(t(lang, "btn_skip"), RegButton(action=RegAction.SKIP))]))
    elif draft.step == "plan":
        offers = await reg.plan_offers(session, settings=app.settings)
        if not offers:
            say(t(lang, "no_plans"), step_keyboard(lang))
            return
        lines = [t(lang, "ask_plan")]
        for number, offer in enumerate(offers, 1):
            features = t(lang, "all_features") if offer.features is None else (", ".join(offer.features[:6]) or t(lang, "no_features"))
            if offer.features and len(offer.features) > 6:
                features += f" (+{len(offer.features) - 6})"
            lines.append(f"{number}. " + t(lang, "plan_line", name=offer.plan.display_name, price=format_money(offer.plan.monthly_price_kopeks),
                                           fee=format_money(offer.plan.activation_fee_kopeks), stars=offer.stars, features=features))
        buttons = [[(f"{n}. {o.plan.display_name}", PlanButton(plan_id=o.plan.id))] for n, o in enumerate(offers, 1)]
        say("\n".join(lines), step_keyboard(lang, *buttons))
    elif draft.step == "payment_method":
        options = await reg.payment_options(session, draft=draft, telegram_user_id=draft.telegram_user_id, settings=app.settings)
        if options.waived:
            say(t(lang, "ask_method_waived"), step_keyboard(lang, [(t(lang, "btn_waived"), PaymentButton(method=reg.WAIVED))]))
            return
        methods = [[(t(lang, "btn_stars", amount=format_money(options.stars, "XTR")), PaymentButton(method=reg.STARS))]]
        if options.card:
            methods.append([(t(lang, "btn_card", amount=format_money(options.fee_kopeks)), PaymentButton(method=reg.CARD))])
        say(t(lang, "ask_method", fee=format_money(options.fee_kopeks)), step_keyboard(lang, *methods))
    elif draft.step == "confirm":
        payment = payment or await reg.pending_payment(session, registration_id=draft.id)
        plan = await _plan(session, draft)
        paying = t(lang, "waived") if payment is None or payment.method == reg.WAIVED else format_money(payment.amount_minor, payment.currency)
        text = t(lang, "confirm", name=draft.bot_name, username=draft.bot_username, language=LANGUAGE_NAMES.get(draft.language, "-"),
                 support=draft.support_username or t(lang, "none"), plan=plan.display_name if plan else "-", payment=paying)
        say(text, step_keyboard(lang, [(t(lang, "btn_confirm"), RegButton(action=RegAction.CONFIRM))]))


async def _ask_payment(outbox: Outbox, chat_id: int, draft: TenantRegistration, *, session: AsyncSession, lang: str,
                       payment: PlatformPayment | None) -> None:
    payment = payment or await reg.pending_payment(session, registration_id=draft.id)
    if payment is None:
        return
    if payment.method == reg.STARS:
        title, plan = t(lang, "invoice_title"), await _plan(session, draft)
        outbox.send(SendInvoice(chat_id=chat_id, title=title, payload=f"reg:{draft.id}", currency="XTR",
                                description=t(lang, "invoice_description", name=draft.bot_name, plan=plan.display_name if plan else "-"),
                                prices=[LabeledPrice(label=title, amount=payment.amount_minor)]))
        outbox.send(SendMessage(chat_id=chat_id, text=t(lang, "pay_invoice"), reply_markup=step_keyboard(lang)))
        return
    card = await reg.card_for_payment(session, payment=payment)
    if card is None:  # every card was withdrawn after the user chose to pay by card
        text = error_text(lang, Invalid("card_unavailable"))
    else:
        bank = f", {card.bank_name}" if card.bank_name else ""
        text = t(lang, "card_instructions", amount=format_money(payment.amount_minor), card=card.card_number, holder=card.holder_name, bank=bank)
    outbox.send(SendMessage(chat_id=chat_id, text=text, reply_markup=step_keyboard(lang)))


async def _step(outbox: Outbox, chat_id: int, draft: TenantRegistration, action: Step, *, session: AsyncSession,
                lang: str, app: App) -> None:
    """Run one step's service call; on a refusal say why (the draft stays as it was). Then ask the draft's step."""
    try:  # services validate before they change anything
        draft = await action()
    except TenantctlError as exc:
        outbox.send(SendMessage(chat_id=chat_id, text=error_text(lang, exc)))
    await prompt(outbox, chat_id, draft, session=session, lang=lang, app=app)


# ----- commands and navigation ---------------------------------------------------------------


@router.message(Command("register_tenant"))
async def register(message: Message, session: AsyncSession, draft: TenantRegistration | None, outbox: Outbox,
                   lang: str, app: App) -> None:
    """Start a registration, or resume the user's open one."""
    draft, resumed = await reg.start_registration(session, telegram_user_id=message.from_user.id, current=draft)
    outbox.send(message.answer(t(lang, "resumed" if resumed else "start_new")))
    await prompt(outbox, message.chat.id, draft, session=session, lang=lang, app=app)


async def _cancel(event: Message | CallbackQuery, session: AsyncSession, draft: TenantRegistration | None,
                  outbox: Outbox, lang: str) -> None:
    cancelled = await reg.cancel(session, draft=draft, telegram_user_id=event.from_user.id)
    outbox.send(SendMessage(chat_id=_chat_id(event), text=t(lang, "cancelled" if cancelled else "nothing_to_cancel")))


@router.message(Command("cancel"))
async def cancel_command(message: Message, session: AsyncSession, draft: TenantRegistration | None, outbox: Outbox,
                         lang: str) -> None:
    """Cancel the open registration, whatever step it is at."""
    await _cancel(message, session, draft, outbox, lang)


@router.callback_query(RegButton.filter(F.action == RegAction.CANCEL))
async def cancel_button(query: CallbackQuery, session: AsyncSession, draft: TenantRegistration | None, outbox: Outbox,
                        lang: str) -> None:
    """The Cancel button: same as /cancel."""
    _pressed(outbox, query)
    await _cancel(query, session, draft, outbox, lang)


@router.callback_query(RegButton.filter(F.action == RegAction.BACK))
async def back(query: CallbackQuery, session: AsyncSession, draft: TenantRegistration | None, outbox: Outbox,
               lang: str, app: App) -> None:
    """The Back button: one step back."""
    _pressed(outbox, query)
    if draft is None:
        outbox.send(SendMessage(chat_id=_chat_id(query), text=t(lang, "nothing_to_cancel")))
        return
    await _step(outbox, _chat_id(query), draft, lambda: reg.go_back(session, draft=draft, telegram_user_id=query.from_user.id),
                session=session, lang=lang, app=app)


# ----- payments (before the steps: they arrive whatever the step) ----------------------------


@router.pre_checkout_query(F.invoice_payload.startswith("reg:"))
async def pre_checkout(query: PreCheckoutQuery, session: AsyncSession, draft: TenantRegistration | None, outbox: Outbox,
                       lang: str) -> None:
    """Re-check the registration is still payable for exactly this amount.

    The answer carries the decision and must reach Telegram within 10 s; like every other call it
    goes out through the outbox, as soon as this update's short, read-only transaction has ended.
    """
    try:
        await reg.check_payable(session, draft=draft, registration_id=payload_id(query.invoice_payload, "reg:"),
                                telegram_user_id=query.from_user.id, currency=query.currency, amount=query.total_amount)
    except TenantctlError as exc:
        outbox.send(query.answer(ok=False, error_message=error_text(lang, exc)))
        return
    outbox.send(query.answer(ok=True))


# ----- the steps -----------------------------------------------------------------------------


@router.message(DraftStep("bot_name"), _TEXT)
async def bot_name(message: Message, session: AsyncSession, draft: TenantRegistration, outbox: Outbox, lang: str, app: App) -> None:
    """Step 1: the bot's name."""
    await _step(outbox, message.chat.id, draft,
                lambda: reg.set_bot_name(session, draft=draft, telegram_user_id=message.from_user.id, name=message.text),
                session=session, lang=lang, app=app)


@router.message(DraftStep("bot_token"), _TEXT)
async def bot_token(message: Message, bot: Bot, draft: TenantRegistration, outbox: Outbox, lang: str, app: App) -> None:
    """Step 2: the token. Nothing is written in this update's transaction: after it, getMe asks
    Telegram (no transaction open) and a second short unit of work stores the token."""
    outbox.send(message.delete(), best_effort=True)  # the token should not linger in the chat, whatever happens next
    outbox.then(partial(_store_token, bot, app, message.chat.id, draft, normalize_digits(message.text.strip()), lang))


async def _store_token(bot: Bot, app: App, chat_id: int, draft: TenantRegistration, token: str, lang: str) -> None:
    try:
        identity = await get_me(app.settings.telegram_api_server, token)
    except Invalid:  # a malformed token too: set_token says which
        identity = None
    async with unit_of_work(app.sessions, bot) as (session, outbox):
        await _step(outbox, chat_id, draft,
                    lambda: reg.set_token(session, registration_id=draft.id, telegram_user_id=draft.telegram_user_id,
                                          token=token, identity=identity, box=app.secret_box),
                    session=session, lang=lang, app=app)


@router.callback_query(DraftStep("language"), LanguageButton.filter())
async def language(query: CallbackQuery, callback_data: LanguageButton, session: AsyncSession, draft: TenantRegistration,
                   outbox: Outbox, lang: str, app: App) -> None:
    """Step 3: the bot's language; the conversation switches to it too."""
    _pressed(outbox, query)
    await _step(outbox, _chat_id(query), draft,
                lambda: reg.set_language(session, draft=draft, telegram_user_id=query.from_user.id, language=callback_data.code),
                session=session, lang=pick_language(callback_data.code, lang), app=app)


@router.message(DraftStep("support"), _TEXT)
async def support(message: Message, session: AsyncSession, draft: TenantRegistration, outbox: Outbox, lang: str, app: App) -> None:
    """Step 4: the support username."""
    await _step(outbox, message.chat.id, draft,
                lambda: reg.set_support(session, draft=draft, telegram_user_id=message.from_user.id, username=message.text),
                session=session, lang=lang, app=app)


@router.callback_query(DraftStep("support"), RegButton.filter(F.action == RegAction.SKIP))
async def support_skip(query: CallbackQuery, session: AsyncSession, draft: TenantRegistration, outbox: Outbox,
                       lang: str, app: App) -> None:
    """Step 4: Skip (no support username)."""
    _pressed(outbox, query)
    await _step(outbox, _chat_id(query), draft,
                lambda: reg.set_support(session, draft=draft, telegram_user_id=query.from_user.id, username=None),
                session=session, lang=lang, app=app)


async def _choose_plan(event: Message | CallbackQuery, plan_id: int, session: AsyncSession, draft: TenantRegistration,
                       outbox: Outbox, lang: str, app: App) -> None:
    await _step(outbox, _chat_id(event), draft,
                lambda: reg.set_plan(session, draft=draft, telegram_user_id=event.from_user.id, plan_id=plan_id),
                session=session, lang=lang, app=app)


@router.callback_query(DraftStep("plan"), PlanButton.filter())
async def plan_button(query: CallbackQuery, callback_data: PlanButton, session: AsyncSession, draft: TenantRegistration,
                      outbox: Outbox, lang: str, app: App) -> None:
    """Step 5: a plan button."""
    _pressed(outbox, query)
    await _choose_plan(query, callback_data.plan_id, session, draft, outbox, lang, app)


@router.message(DraftStep("plan"), _TEXT)
async def plan_number(message: Message, session: AsyncSession, draft: TenantRegistration, outbox: Outbox,
                      lang: str, app: App) -> None:
    """Step 5: the plan's number typed (Persian digits too)."""
    offers = await reg.plan_offers(session, settings=app.settings)
    number = normalize_digits(message.text.strip()).removesuffix(".")
    plan_id = offers[int(number) - 1].plan.id if number.isdigit() and 1 <= int(number) <= len(offers) else 0
    await _choose_plan(message, plan_id, session, draft, outbox, lang, app)


@router.callback_query(DraftStep("payment_method"), PaymentButton.filter())
async def payment_method(query: CallbackQuery, callback_data: PaymentButton, session: AsyncSession, draft: TenantRegistration,
                         outbox: Outbox, lang: str, app: App) -> None:
    """Step 6: Stars, card, or (for a master admin) waived; the summary then shows the payment just written."""
    _pressed(outbox, query)
    payment = None
    try:
        payment = await reg.choose_payment(session, draft=draft, telegram_user_id=query.from_user.id,
                                           method=callback_data.method, settings=app.settings)
    except TenantctlError as exc:
        outbox.send(SendMessage(chat_id=_chat_id(query), text=error_text(lang, exc)))
    await prompt(outbox, _chat_id(query), draft, session=session, lang=lang, app=app, payment=payment)


@router.callback_query(DraftStep("confirm"), RegButton.filter(F.action == RegAction.CONFIRM))
async def confirmed(query: CallbackQuery, session: AsyncSession, draft: TenantRegistration, outbox: Outbox, lang: str,
                    app: App, runner: Any = None) -> None:
    """Step 7: confirmed; now the invoice, the card, or (fee waived) the tenant at once."""
    _pressed(outbox, query)
    try:
        outcome = await reg.confirm(session, draft=draft, telegram_user_id=query.from_user.id, box=app.secret_box,
                                    actor=_actor(query.from_user.id))
    except TenantctlError as exc:
        outbox.send(SendMessage(chat_id=_chat_id(query), text=error_text(lang, exc)))
        return
    if isinstance(outcome, reg.Completion):
        announce_completion(outbox, outcome, runner=runner)
        return
    await prompt(outbox, _chat_id(query), draft, session=session, lang=lang, app=app, payment=outcome)


@router.message(DraftStep("payment", "review"), F.photo | _TEXT)
async def receipt(message: Message, session: AsyncSession, draft: TenantRegistration, outbox: Outbox, lang: str, app: App) -> None:
    """A card-to-card receipt (photo or text): every master admin gets it with Approve / Reject."""
    if draft.step == "review":
        outbox.send(message.answer(t(lang, "waiting_review")))
        return
    if draft.payment_method != reg.CARD:
        outbox.send(message.answer(t(lang, "pay_invoice")))
        return
    photo = message.photo[-1].file_id if message.photo else None
    try:
        payment = await reg.submit_receipt(session, draft=draft, telegram_user_id=message.from_user.id,
                                           photo_file_id=photo, text=message.text)
    except TenantctlError as exc:
        outbox.send(message.answer(error_text(lang, exc)))
        return
    plan = await _plan(session, draft)
    text = t("en", "admin_receipt", receipt=t("en", "receipt_photo") if photo else message.text, payment=payment.id,
             name=draft.bot_name, username=draft.bot_username, user=draft.telegram_user_id,
             plan=plan.display_name if plan else "-", amount=format_money(payment.amount_minor, payment.currency))
    outbox.send(message.answer(t(lang, "receipt_received")))
    for admin_id in sorted(app.settings.master_admin_ids):  # an admin who never opened the bot cannot be told
        if photo:
            outbox.send(SendPhoto(chat_id=admin_id, photo=photo, caption=text[:1024], reply_markup=review_keyboard(payment.id)),
                        best_effort=True)
        else:
            outbox.send(SendMessage(chat_id=admin_id, text=text, reply_markup=review_keyboard(payment.id)), best_effort=True)


# ----- anything else -------------------------------------------------------------------------

_WRONG_INPUT = {"bot_name": "name_length", "bot_token": "token_format", "support": "support_invalid"}


@router.message(DraftStep(*reg.STEPS))
async def wrong_input(message: Message, session: AsyncSession, draft: TenantRegistration, outbox: Outbox,
                      lang: str, app: App) -> None:
    """Anything else in a step: say what is expected and show the step again."""
    outbox.send(message.answer(t(lang, "error_prefix", reason=t(lang, _WRONG_INPUT.get(draft.step, "language_unknown")))))
    await prompt(outbox, message.chat.id, draft, session=session, lang=lang, app=app)


@router.callback_query(or_f(*(factory.filter() for factory in REGISTRATION_BUTTONS)))
async def stale_button(query: CallbackQuery, outbox: Outbox, lang: str) -> None:
    """A registration button from an earlier step."""
    outbox.send(query.answer(t(lang, "step_out_of_order"), show_alert=True))


@router.message(Command("start"))
async def start(message: Message, outbox: Outbox, lang: str) -> None:
    """The master bot's greeting."""
    outbox.send(message.answer(t(lang, "master_welcome")))


@router.callback_query()
async def expired_button(query: CallbackQuery, outbox: Outbox, lang: str) -> None:
    """Any other button: forged, from an old version, or not for this user."""
    outbox.send(query.answer(t(lang, "button_expired"), show_alert=True))
