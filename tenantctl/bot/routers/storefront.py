"""A tenant bot's storefront: what its end users get, built from the tenant's effective flags, in their language.

/start shows a menu of what is on: Buy (the tenant's active plans, paid by the payment methods that are on and that
this build implements: Telegram Stars from the tenant's own bot, card to card to the tenant's cards), the trial, the
user's subscription, support. A feature turned off leaves the menu; its button pressed afterwards is answered "not
available" and never served. Stars go through the payment inbox (`payments.paid`, also on tenant bots); a card
receipt goes to the tenant's admins, whose approval (checked against `bot_admins`) records the money in the inbox.
The VPN panel is provisioned by the runner (`customers.provisioning`), which sends the link once it exists.
Renew (in My subscription when the end is near, and under each reminder) leads to the same purchase of the plan the user
had; the runner's supervisor sends the reminders (`send_reminder`), with a Stars order's invoice when auto_renewal is on.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from aiogram import Bot as Client
from aiogram import F
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendInvoice, SendMessage, SendPhoto
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, LabeledPrice, Message, PreCheckoutQuery
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.billing.models import CARD, STARS
from tenantctl.billing.storefront import (
    ORDER_PAYLOAD,
    approve_order,
    attach_receipt,
    cancel_order,
    check_stars_checkout,
    offered_methods,
    on_sale,
    reject_order,
    renewal_order,
    start_order,
)
from tenantctl.bot.keyboards import ReviewAction, Row, keyboard
from tenantctl.bot.locales import error_text, money, number, pick_language, t, traffic
from tenantctl.bot.outbox import Outbox
from tenantctl.bot.routers import Routes, payload_id
from tenantctl.bot.routers.dashboard_views import HOME as DASHBOARD
from tenantctl.bot.routers.payments import payer_language, settle_and_tell
from tenantctl.core.app import App
from tenantctl.core.db import utcnow
from tenantctl.core.errors import TenantctlError
from tenantctl.core.money import kopeks_to_stars
from tenantctl.customers import cards
from tenantctl.customers.bot_plans import get_plan, list_plans
from tenantctl.customers.models import BotPlan, Order, User
from tenantctl.customers.renewals import AUTO_RENEWAL, Reminder, mark_blocked, mark_reminded, remind_days, renewal_due
from tenantctl.customers.storefront import (
    REFERRAL_BONUS_KEY,
    REFERRAL_FEATURE,
    REFERRAL_PREFIX,
    attach_referrer,
    current_subscription,
    ensure_user,
    take_trial,
)
from tenantctl.flags.catalogue import SUPPORT_CONTACT_MODES
from tenantctl.flags.gate import FeatureGate
from tenantctl.tenants.admins import list_admins
from tenantctl.tenants.models import Bot as BotRow
from tenantctl.tenants.permissions import role_of
from tenantctl.tenants.telegram import scrub_tokens

if TYPE_CHECKING:
    from tenantctl.bot.runner import BotInfo

log = logging.getLogger(__name__)
router = Routes("storefront")
TRIAL, SUPPORT = "trial_subscription", "support_tickets"
TICKET_MODES = ("tickets", "both")
PENDING = "shop"  # the FSM data entry of what the storefront waits for: a receipt, a support message
GB = 1024**3


class ShopDo(StrEnum):
    MENU = "m"
    PLANS = "p"
    PLAN = "pl"  # a: plan id
    PAY = "pay"  # a: plan id, b: the method's index in billing.storefront.IMPLEMENTED_METHODS
    TRIAL = "t"
    MY = "my"
    SUPPORT = "s"
    INVITE = "i"
    RENEW = "r"  # the plan the user had, while on sale; else the plans


class Shop(CallbackData, prefix="sh"):
    """An end user's button in the storefront."""

    do: ShopDo
    a: int = 0
    b: int = 0


class OrderReview(CallbackData, prefix="or"):
    """A tenant admin's Approve or Reject under a card receipt."""

    action: ReviewAction
    order_id: int


METHODS = (STARS, CARD)
MENU = Shop(do=ShopDo.MENU)


_LABELS = {ShopDo.PLANS: "sf_btn_buy", ShopDo.TRIAL: "sf_btn_trial", ShopDo.MY: "sf_btn_my", ShopDo.INVITE: "sf_btn_invite",
           ShopDo.SUPPORT: "sf_btn_support", ShopDo.RENEW: "sf_btn_renew", ShopDo.MENU: "sf_btn_menu"}


def _menu_row(lang: str) -> Row:
    return [(t(lang, _LABELS[ShopDo.MENU]), MENU)]


@cache
def _buttons(lang: str, *screens: ShopDo, dashboard: bool = False) -> InlineKeyboardMarkup:
    """A button per row, in `lang`, for these screens (the ones without an argument), then the dashboard's if asked:
    a few combinations, each built once (they are sent on nearly every update)."""
    rows = [[(t(lang, _LABELS[screen]), Shop(do=screen))] for screen in screens]
    return keyboard(*rows, [(t(lang, "db_btn_open"), DASHBOARD)] if dashboard else [])


async def _methods(session: AsyncSession, gate: FeatureGate, tenant: BotInfo) -> list[str]:
    """The payment methods offered, by the flags the gate holds (an order checks them again in the database)."""
    return await offered_methods(session, bot_id=tenant.id, on=[m for m in METHODS if gate.is_enabled(tenant.id, m)])


async def _on_sale(session: AsyncSession, gate: FeatureGate, tenant: BotInfo) -> bool:
    """Whether the bot has something to sell: an active plan and a payment method."""
    return await on_sale(session, bot_id=tenant.id, on=[m for m in METHODS if gate.is_enabled(tenant.id, m)])


async def _menu(session: AsyncSession, app: App, gate: FeatureGate, tenant: BotInfo, user: User, lang: str) -> tuple[str, Any]:
    """The greeting and a button per thing that is on for this tenant (and this user)."""
    lines = [t(tenant.default_language, "tenant_welcome", name=tenant.name)]
    support_mode = gate.value(tenant.id, SUPPORT)
    if tenant.support_username and support_mode in SUPPORT_CONTACT_MODES:
        lines.append(t(tenant.default_language, "tenant_support", support=tenant.support_username))
    screens = [ShopDo.PLANS] if await _on_sale(session, gate, tenant) else []
    if gate.is_enabled(tenant.id, TRIAL) and user.trial_used_at is None:
        screens.append(ShopDo.TRIAL)
    screens.append(ShopDo.MY)
    if gate.is_enabled(tenant.id, REFERRAL_FEATURE):
        screens.append(ShopDo.INVITE)
    if support_mode in TICKET_MODES:
        screens.append(ShopDo.SUPPORT)
    role = await role_of(session, master_admins=app.settings.master_admin_ids, actor_telegram_id=user.telegram_id, bot_id=tenant.id)
    return "\n".join(lines), _buttons(lang, *screens, dashboard=role is not None)


async def _user(session: AsyncSession, tenant: BotInfo, event: Message | CallbackQuery | PreCheckoutQuery) -> User:
    sender = event.from_user
    return await ensure_user(session, bot_id=tenant.id, telegram_id=sender.id, username=sender.username, first_name=sender.first_name,
                             language_code=sender.language_code)


async def _wait(state: FSMContext | None, pending: dict[str, Any] | None) -> None:
    """Wait for this input next (None: for nothing)."""
    if state is None:
        return
    data = await state.get_data()
    if pending is None:
        if PENDING not in data:
            return
        del data[PENDING]
    else:
        data[PENDING] = pending
    await state.set_data(data)


@router.message(CommandStart())
async def start(message: Message, tenant: BotInfo, gate: FeatureGate, outbox: Outbox, session: AsyncSession, app: App, lang: str,
                command: CommandObject | None = None, state: FSMContext | None = None) -> None:
    """The menu, built from the tenant's flags; a `ref_<id>` start link names a newcomer's inviter."""
    user = await _user(session, tenant, message)
    if command is not None and command.args and gate.is_enabled(tenant.id, REFERRAL_FEATURE):
        await attach_referrer(session, bot_id=tenant.id, user=user, start_argument=command.args)
    await _wait(state, None)
    text, markup = await _menu(session, app, gate, tenant, user, lang)
    outbox.send(message.answer(text, reply_markup=markup))


def _plan_line(lang: str, plan: BotPlan) -> str:
    return t(lang, "sf_plan", name=plan.name, price=money(lang, plan.price_kopeks), days=number(lang, plan.period_days),
             traffic=f"{number(lang, plan.traffic_limit_gb)} GB" if plan.traffic_limit_gb else t(lang, "sf_unlimited"),
             devices=number(lang, plan.device_limit))


def order_invoice(lang: str, chat_id: int, tenant_name: str, plan: BotPlan, order: Order) -> SendInvoice:
    """The Stars invoice of an order (payload `buy:<order>`: paid through the inbox)."""
    title = t(lang, "sf_invoice_title", plan=plan.name, days=plan.period_days)
    return SendInvoice(chat_id=chat_id, title=title, description=t(lang, "sf_invoice_description", name=tenant_name),
                       payload=f"{ORDER_PAYLOAD}{order.id}", currency="XTR", prices=[LabeledPrice(label=title, amount=order.stars)])


def _not_available() -> TenantctlError:
    """A feature that is off, or nothing to offer: the button is refused."""
    return TenantctlError("not_available", code="not_available")


async def _screen(session: AsyncSession, app: App, gate: FeatureGate, tenant: BotInfo, user: User, lang: str, data: Shop,
                  state: FSMContext | None, outbox: Outbox, chat_id: int) -> tuple[str, Any]:
    """What a storefront button shows (and, for Pay and Trial, does)."""
    if data.do == ShopDo.MENU:
        await _wait(state, None)
        return await _menu(session, app, gate, tenant, user, lang)
    if data.do == ShopDo.PLANS:
        plans = await list_plans(session, bot_id=tenant.id, include_archived=False)
        if not plans or not await _methods(session, gate, tenant):
            raise _not_available()
        return t(lang, "sf_plans"), keyboard(*([(f"{p.name} · {money(lang, p.price_kopeks)}", Shop(do=ShopDo.PLAN, a=p.id))]
                                               for p in plans), _menu_row(lang))
    if data.do == ShopDo.PLAN:
        plan = await get_plan(session, bot_id=tenant.id, plan_id=data.a)
        methods = await _methods(session, gate, tenant)
        if not plan.is_active or not methods:
            raise _not_available()
        stars = kopeks_to_stars(plan.price_kopeks, app.settings.stars_rate_kopeks)  # as the order will charge
        labels = {STARS: t(lang, "sf_btn_stars", stars=number(lang, stars)),
                  CARD: t(lang, "sf_btn_card", price=money(lang, plan.price_kopeks))}
        return _plan_line(lang, plan), keyboard(*([(labels[m], Shop(do=ShopDo.PAY, a=plan.id, b=METHODS.index(m)))] for m in methods),
                                                [(t(lang, "btn_back"), Shop(do=ShopDo.PLANS))] + _menu_row(lang))
    if data.do == ShopDo.PAY:
        if not 0 <= data.b < len(METHODS):
            raise _not_available()
        order, card = await start_order(session, bot_id=tenant.id, user=user, plan_id=data.a, method=METHODS[data.b],
                                        stars_rate_kopeks=app.settings.stars_rate_kopeks)
        plan = await get_plan(session, bot_id=tenant.id, plan_id=data.a)
        if order.method == STARS:
            outbox.send(order_invoice(lang, chat_id, tenant.name, plan, order))
            return t(lang, "sf_pay_invoice"), _buttons(lang, ShopDo.MENU)
        await _wait(state, {"kind": "receipt", "order_id": order.id})
        return t(lang, "sf_card_details", price=money(lang, order.amount_kopeks), number=card.card_number, holder=card.holder_name,
                 bank=f"\n{card.bank_name}" if card.bank_name else ""), _buttons(lang, ShopDo.MENU)
    if data.do == ShopDo.TRIAL:
        if not gate.is_enabled(tenant.id, TRIAL):
            raise _not_available()
        subscription = await take_trial(session, bot_id=tenant.id, user=user, config=gate.config(tenant.id, TRIAL), now=utcnow())
        return t(lang, "sf_trial_started", date=subscription.end_date.date().isoformat()), _buttons(lang, ShopDo.MENU)
    if data.do == ShopDo.RENEW:
        subscription = await current_subscription(session, bot_id=tenant.id, user_id=user.id)
        plan_id = subscription.bot_plan_id if subscription is not None else None
        if plan_id is not None and (await get_plan(session, bot_id=tenant.id, plan_id=plan_id)).is_active:
            return await _screen(session, app, gate, tenant, user, lang, Shop(do=ShopDo.PLAN, a=plan_id), state, outbox, chat_id)
        text, markup = await _screen(session, app, gate, tenant, user, lang, Shop(do=ShopDo.PLANS), state, outbox, chat_id)
        return (f"{t(lang, 'plan_archived')}\n{text}" if plan_id is not None else text), markup
    if data.do == ShopDo.MY:
        subscription = await current_subscription(session, bot_id=tenant.id, user_id=user.id)
        if subscription is None:
            return t(lang, "sf_none"), _buttons(lang, ShopDo.MENU)
        renew = (renewal_due(subscription, days=remind_days(gate.config(tenant.id, AUTO_RENEWAL)), now=utcnow())
                 and await _on_sale(session, gate, tenant))
        return t(lang, "sf_my", status=t(lang, f"sf_status_{subscription.status}"), date=subscription.end_date.date().isoformat(),
                 used=traffic(lang, subscription.traffic_used_bytes),
                 limit=traffic(lang, subscription.traffic_limit_bytes) if subscription.traffic_limit_bytes else t(lang, "sf_unlimited"),
                 devices=number(lang, subscription.device_limit),
                 url=subscription.subscription_url or t(lang, "sf_link_pending")), _buttons(lang, *([ShopDo.RENEW] if renew else []),
                                                                                      ShopDo.MENU)
    if data.do == ShopDo.INVITE:
        if not gate.is_enabled(tenant.id, REFERRAL_FEATURE):
            raise _not_available()
        username = (await session.get(BotRow, tenant.id)).username
        bonus = int(gate.config(tenant.id, REFERRAL_FEATURE).get(REFERRAL_BONUS_KEY) or 0)
        return t(lang, "sf_invite", link=f"https://t.me/{username}?start={REFERRAL_PREFIX}{user.telegram_id}",
                 bonus=money(lang, bonus)), _buttons(lang, ShopDo.MENU)
    if gate.value(tenant.id, SUPPORT) not in TICKET_MODES:
        raise _not_available()
    await _wait(state, {"kind": "ticket"})
    return t(lang, "sf_support_ask"), _buttons(lang, ShopDo.MENU)


@router.callback_query(Shop.filter())
async def shop(query: CallbackQuery, callback_data: Shop, tenant: BotInfo, gate: FeatureGate, outbox: Outbox, session: AsyncSession,
               app: App, lang: str, state: FSMContext | None = None, runner: Any = None) -> None:
    """A storefront button; what is off, gone or refused is answered with its reason and changes nothing."""
    user = await _user(session, tenant, query)
    try:
        text, markup = await _screen(session, app, gate, tenant, user, lang, callback_data, state, outbox, query.from_user.id)
    except TenantctlError as exc:
        outbox.send(query.answer(t(lang, exc.code) if exc.code == "not_available" else error_text(lang, exc), show_alert=True))
        return
    outbox.send(query.answer())
    outbox.send(SendMessage(chat_id=query.from_user.id, text=text, reply_markup=markup))
    if callback_data.do == ShopDo.TRIAL and runner is not None:  # the panel job the trial queued: at once
        outbox.then(runner.nudge)


# ----- payments ------------------------------------------------------------------------------


@router.pre_checkout_query(F.invoice_payload.startswith(ORDER_PAYLOAD))
async def pre_checkout(query: PreCheckoutQuery, tenant: BotInfo, outbox: Outbox, session: AsyncSession, lang: str) -> None:
    """A Stars payment about to be made: its order must still be open, this bot's and this payer's, at its price."""
    try:
        await check_stars_checkout(session, bot_id=tenant.id, order_id=payload_id(query.invoice_payload, ORDER_PAYLOAD),
                                   payer_telegram_id=query.from_user.id, amount=query.total_amount, currency=query.currency)
    except TenantctlError as exc:
        outbox.send(query.answer(ok=False, error_message=error_text(lang, exc)))
        return
    outbox.send(query.answer(ok=True))


async def _admins_of(session: AsyncSession, bot_id: int) -> list[int]:
    return [admin.telegram_user_id for admin in await list_admins(session, bot_id=bot_id)]


async def _receipt(message: Message, pending: dict[str, Any], tenant: BotInfo, outbox: Outbox, session: AsyncSession, lang: str,
                   state: FSMContext | None) -> None:
    photo = message.photo[-1].file_id if message.photo else None
    receipt = {"photo_file_id": photo} if photo else {"text": (message.text or message.caption or "")[:1000]}
    order = await attach_receipt(session, bot_id=tenant.id, order_id=pending["order_id"], user_id=(await _user(session, tenant, message)).id,
                                 receipt=receipt)
    await _wait(state, None)
    plan = await session.get(BotPlan, order.bot_plan_id) if order.bot_plan_id else None
    card = await cards.get_card(session, bot_id=tenant.id, card_id=order.card_id) if order.card_id else None
    who = f"@{message.from_user.username}" if message.from_user.username else str(message.from_user.id)
    buttons = keyboard([(t(tenant.default_language, "sf_btn_approve"), OrderReview(action=ReviewAction.APPROVE, order_id=order.id)),
                        (t(tenant.default_language, "sf_btn_reject"), OrderReview(action=ReviewAction.REJECT, order_id=order.id))])
    for admin in await _admins_of(session, tenant.id):
        text = t(tenant.default_language, "sf_review", order=order.id, plan=plan.name if plan else "-",
                 price=money(tenant.default_language, order.amount_kopeks), card=cards.masked(card.card_number) if card else "-",
                 user=who, receipt=t(tenant.default_language, "receipt_photo") if photo else receipt["text"])
        if photo:
            outbox.send(SendPhoto(chat_id=admin, photo=photo, caption=text[:1024], reply_markup=buttons), best_effort=True)
        else:
            outbox.send(SendMessage(chat_id=admin, text=text, reply_markup=buttons), best_effort=True)
    outbox.send(message.answer(t(lang, "sf_receipt_sent")))


async def _ticket(message: Message, tenant: BotInfo, gate: FeatureGate, outbox: Outbox, session: AsyncSession, lang: str,
                  state: FSMContext | None) -> None:
    await _wait(state, None)
    if gate.value(tenant.id, SUPPORT) not in TICKET_MODES:
        outbox.send(message.answer(t(lang, "not_available")))
        return
    who = f"@{message.from_user.username}" if message.from_user.username else str(message.from_user.id)
    for admin in await _admins_of(session, tenant.id):
        outbox.send(SendMessage(chat_id=admin, text=t(tenant.default_language, "sf_ticket", user=who, text=(message.text or "")[:3000])),
                    best_effort=True)
    outbox.send(message.answer(t(lang, "sf_ticket_sent")))


async def _waiting(message: Message, state: FSMContext | None = None) -> dict[str, Any] | bool:
    """Passes when the storefront waits for this user's input, with it as `pending`."""
    pending = (await state.get_data()).get(PENDING) if state is not None else None
    return {"pending": pending} if pending else False


@router.message(Command("cancel"), _waiting)
async def cancel(message: Message, outbox: Outbox, lang: str, state: FSMContext | None = None) -> None:
    """/cancel while the storefront waits for input."""
    await _wait(state, None)
    outbox.send(message.answer(t(lang, "sf_cancelled"), reply_markup=_buttons(lang, ShopDo.MENU)))


@router.message(F.photo | (F.text & ~F.text.startswith("/")), _waiting)
async def typed(message: Message, pending: dict[str, Any], tenant: BotInfo, gate: FeatureGate, outbox: Outbox, session: AsyncSession,
                lang: str, state: FSMContext | None = None) -> None:
    """A receipt for a card order, or a support message."""
    try:
        if pending.get("kind") == "receipt":
            await _receipt(message, pending, tenant, outbox, session, lang, state)
        else:
            await _ticket(message, tenant, gate, outbox, session, lang, state)
    except TenantctlError as exc:
        outbox.send(message.answer(error_text(lang, exc)))


@router.callback_query(OrderReview.filter())
async def review(query: CallbackQuery, callback_data: OrderReview, bot: Client, tenant: BotInfo, outbox: Outbox, session: AsyncSession,
                 app: App, lang: str, runner: Any = None) -> None:
    """A tenant admin approves (the money goes to the inbox, then is applied after the commit) or rejects a card receipt."""
    master_admins = app.settings.master_admin_ids
    try:
        if callback_data.action == ReviewAction.APPROVE:
            row = await approve_order(session, bot_id=tenant.id, order_id=callback_data.order_id, reviewer_id=query.from_user.id,
                                      master_admins=master_admins)
            payer_lang = await payer_language(session, telegram_id=row.payer_telegram_id, tenant_id=tenant.id)
            outbox.then(partial(settle_and_tell, bot, app, row.id, payer=row.payer_telegram_id, lang=payer_lang,
                                actor=f"tg:{query.from_user.id}", runner=runner))
            note = t(lang, "sf_reviewed_ok", order=callback_data.order_id)
        else:
            order = await reject_order(session, bot_id=tenant.id, order_id=callback_data.order_id, reviewer_id=query.from_user.id,
                                       master_admins=master_admins)
            payer = await session.get(User, order.user_id)
            payer_lang = await payer_language(session, telegram_id=payer.telegram_id, tenant_id=tenant.id)
            outbox.send(SendMessage(chat_id=payer.telegram_id, text=t(payer_lang, "sf_rejected", order=order.id)))
            note = t(lang, "sf_reviewed_no", order=order.id)
    except TenantctlError as exc:
        outbox.send(query.answer(t(lang, "button_expired") if exc.code in ("forbidden", "order_unknown") else error_text(lang, exc),
                                 show_alert=True))
        return
    outbox.send(query.answer(note))


# ----- renewal reminders ---------------------------------------------------------------------


async def _deliver(bot: Client, method: SendMessage | SendInvoice, item: Reminder) -> TelegramAPIError | None:
    """Send one part of a reminder; the failure, if any (logged)."""
    try:
        await bot(method)
    except TelegramAPIError as exc:
        log.warning("bot %s: renewal reminder of subscription %s not sent: %s", item.bot_id, item.subscription_id, scrub_tokens(str(exc)))
        return exc
    return None


async def send_reminder(bot: Client, app: App, tenant: BotInfo, item: Reminder, *, auto_renewal: bool) -> None:
    """Remind an end user, from the tenant's bot, that their subscription ends: the Renew button and, with auto_renewal on,
    a Stars invoice of the same plan. Marked reminded once sent, or once Telegram refused it as a bad request (a deleted
    account: trying again would not help); a user who blocked the bot is marked blocked; an invoice that did not go out
    has its order cancelled. Anything else (the network, Telegram's own errors) is tried again next round. No
    transaction is open while Telegram is called."""
    lang = pick_language(None, item.language_code)
    offer = None
    if auto_renewal and item.plan_id is not None:
        async with app.unit_of_work() as session:
            offer = await renewal_order(session, bot_id=item.bot_id, user_id=item.user_id, plan_id=item.plan_id,
                                        stars_rate_kopeks=app.settings.stars_rate_kopeks)
    date = item.end_date.date().isoformat()
    text = t(lang, "sf_reminder_invoice", date=date, plan=offer[1].name) if offer else t(lang, "sf_reminder", date=date)
    failed = await _deliver(bot, SendMessage(chat_id=item.telegram_id, text=text, reply_markup=_buttons(lang, ShopDo.RENEW, ShopDo.MENU)),
                            item)
    invoice_failed = failed
    if offer is not None and failed is None:
        invoice_failed = await _deliver(bot, order_invoice(lang, item.telegram_id, tenant.name, offer[1], offer[0]), item)
    async with app.unit_of_work() as session:
        if offer is not None and invoice_failed is not None:
            await cancel_order(session, bot_id=item.bot_id, order_id=offer[0].id)
        if failed is None or isinstance(failed, TelegramBadRequest):
            await mark_reminded(session, bot_id=item.bot_id, subscription_id=item.subscription_id, now=utcnow())
        elif isinstance(failed, TelegramForbiddenError):
            await mark_blocked(session, bot_id=item.bot_id, telegram_id=item.telegram_id)


@router.callback_query()
async def expired_button(query: CallbackQuery, outbox: Outbox, lang: str) -> None:
    """Any other button: forged, from an old version, or not for this user."""
    outbox.send(query.answer(t(lang, "button_expired"), show_alert=True))
