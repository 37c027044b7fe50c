"""End users buying a tenant's plans: orders, the payment methods offered, card receipts reviewed by the tenant's
admins, and an order paid through the payment inbox (`onboarding.payments` dispatches `buy:<order id>` here).

A Stars payment is recorded in the inbox by the bot that took it, a card payment when a tenant admin approves its
receipt; either is then applied once (a transaction, the subscription extended, a panel job queued, the inviter's
referral bonus) or refunded.
Every function takes the bot the order belongs to; an order id is only ever looked up within that bot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.billing.inbox import receive_card_receipt
from tenantctl.billing.models import CARD, STARS, PaymentInbox
from tenantctl.core.errors import Conflict, NotFound
from tenantctl.core.money import format_money, kopeks_to_stars
from tenantctl.customers import cards
from tenantctl.customers.bot_plans import ACTIVE_PLAN, get_plan
from tenantctl.customers.models import (
    BotPlan,
    Order,
    Subscription,
    TenantPaymentCard,
    Transaction,
    User,
)
from tenantctl.customers.provisioning import grant_subscription
from tenantctl.customers.storefront import reward_referrer
from tenantctl.flags.models import BotFeatureFlag
from tenantctl.tenants.permissions import Permission, require

IMPLEMENTED_METHODS = (STARS, CARD)  # the payment features this build can take money through, in the order offered
ORDER_PAYLOAD = "buy:"
_PLAN_AND_CARD = select(ACTIVE_PLAN, cards.ACTIVE_CARD)


async def offered_methods(session: AsyncSession, *, bot_id: int, on: Iterable[str] | None = None) -> list[str]:
    """The payment methods the bot offers: its payment features that are on, that this build implements (card to card only
    with an active card). `on`: the features that are on, as the caller's FeatureGate has them (None: read here)."""
    if on is None:
        on = (await session.scalars(select(BotFeatureFlag.feature_key).where(
            BotFeatureFlag.bot_id == bot_id, BotFeatureFlag.enabled.is_(True), BotFeatureFlag.feature_key.in_(IMPLEMENTED_METHODS)))).all()
    on = set(on)
    return _offered(on, has_card=CARD in on and await cards.has_active_card(session, bot_id=bot_id))


def _offered(on: Iterable[str], *, has_card: bool) -> list[str]:
    return [method for method in IMPLEMENTED_METHODS if method in on and (method != CARD or has_card)]


async def on_sale(session: AsyncSession, *, bot_id: int, on: Iterable[str]) -> bool:
    """Whether the bot sells: an active plan, and a payment method offered (`on`: the features that are on, as the
    caller's FeatureGate has them). One query: it is asked on every menu."""
    has_plan, has_card = (await session.execute(_PLAN_AND_CARD, {"bot_id": bot_id})).one()
    return bool(has_plan) and bool(_offered(on, has_card=bool(has_card)))


async def get_order(session: AsyncSession, *, bot_id: int, order_id: int) -> Order:
    """The bot's order `order_id` (NotFound for another bot's, as for none)."""
    order = await session.scalar(select(Order).where(Order.id == order_id, Order.bot_id == bot_id)) if 0 < order_id < 2**31 else None
    if order is None:
        raise NotFound("order_unknown", code="order_unknown")
    return order


async def start_order(session: AsyncSession, *, bot_id: int, user: User, plan_id: int, method: str,
                      stars_rate_kopeks: int) -> tuple[Order, TenantPaymentCard | None]:
    """An order of an active plan by an offered method (Stars at the rate; a card by the bot's rotation), and its card."""
    plan = await get_plan(session, bot_id=bot_id, plan_id=plan_id)
    if not plan.is_active:
        raise Conflict("plan_archived")
    if method not in await offered_methods(session, bot_id=bot_id):
        raise Conflict("method_unavailable")
    card = await cards.choose_card(session, bot_id=bot_id) if method == CARD else None
    order = Order(bot_id=bot_id, user_id=user.id, bot_plan_id=plan.id, method=method, amount_kopeks=plan.price_kopeks,
                  stars=kopeks_to_stars(plan.price_kopeks, stars_rate_kopeks) if method == STARS else None,
                  card_id=card.id if card else None)
    session.add(order)
    await session.flush()
    return order, card


async def renewal_order(session: AsyncSession, *, bot_id: int, user_id: int, plan_id: int,
                        stars_rate_kopeks: int) -> tuple[Order, BotPlan] | None:
    """An auto-renewal's Stars order of the plan a reminder offers (an ordinary order, paid through the inbox like any
    purchase), and its plan; None when Stars are not offered or the plan is no longer on sale."""
    user = await session.scalar(select(User).where(User.id == user_id, User.bot_id == bot_id))
    if user is None:
        return None
    try:
        order, _ = await start_order(session, bot_id=bot_id, user=user, plan_id=plan_id, method=STARS, stars_rate_kopeks=stars_rate_kopeks)
    except (Conflict, NotFound):  # refused before anything was written
        return None
    return order, await get_plan(session, bot_id=bot_id, plan_id=plan_id)


async def cancel_order(session: AsyncSession, *, bot_id: int, order_id: int) -> None:
    """An order whose invoice never reached its payer: closed while still unpaid, so a payment of it is refunded."""
    await session.execute(update(Order).where(Order.id == order_id, Order.bot_id == bot_id, Order.status.in_(("pending",)))
                          .values(status="cancelled"))


async def check_stars_checkout(session: AsyncSession, *, bot_id: int, order_id: int, payer_telegram_id: int, amount: int,
                               currency: str) -> Order:
    """A Stars payment about to be made (pre-checkout): its order is the bot's and the payer's, still open, at its price."""
    order = await get_order(session, bot_id=bot_id, order_id=order_id)
    payer = await session.get(User, order.user_id)
    if order.status != "pending" or order.method != STARS or payer.telegram_id != payer_telegram_id:
        raise Conflict("order_closed")
    if (amount, currency) != (order.stars, "XTR"):
        raise Conflict(f"the order costs {format_money(order.stars or 0, 'XTR')}, not {format_money(amount, currency)}")
    return order


async def attach_receipt(session: AsyncSession, *, bot_id: int, order_id: int, user_id: int, receipt: dict[str, str]) -> Order:
    """The payer's receipt of a card order: it waits for the tenant's admins."""
    order = await get_order(session, bot_id=bot_id, order_id=order_id)
    if order.user_id != user_id or order.method != CARD:
        raise NotFound("order_unknown", code="order_unknown")
    if order.status not in ("pending", "awaiting_review"):
        raise Conflict("order_closed")
    order.receipt, order.status = receipt, "awaiting_review"
    await session.flush()
    return order


async def approve_order(session: AsyncSession, *, bot_id: int, order_id: int, reviewer_id: int,
                        master_admins: Iterable[int]) -> PaymentInbox:
    """A tenant admin approved a card receipt: record the money in the inbox (once) and nothing else."""
    await require(session, master_admins=master_admins, actor_telegram_id=reviewer_id, bot_id=bot_id,
                  permission=Permission.MANAGE_PAYMENT_CARDS)
    order = await get_order(session, bot_id=bot_id, order_id=order_id)
    payer = await session.get(User, order.user_id)
    return await receive_card_receipt(session, charge_id=f"order:{order.id}", review_status=order.status, closed="order_closed",
                                      payer_telegram_id=payer.telegram_id, approved_by=reviewer_id,
                                      payload=f"{ORDER_PAYLOAD}{order.id}", currency="RUB", amount_minor=order.amount_kopeks)


async def reject_order(session: AsyncSession, *, bot_id: int, order_id: int, reviewer_id: int, master_admins: Iterable[int]) -> Order:
    """A tenant admin rejected a card receipt: the order is closed, nothing was taken."""
    await require(session, master_admins=master_admins, actor_telegram_id=reviewer_id, bot_id=bot_id,
                  permission=Permission.MANAGE_PAYMENT_CARDS)
    order = await get_order(session, bot_id=bot_id, order_id=order_id)
    if order.status != "awaiting_review":
        raise Conflict("order_closed")
    order.status, order.reviewed_by = "rejected", reviewer_id
    await session.flush()
    await record(session, actor=f"tg:{reviewer_id}", action="order.rejected", entity=f"order:{order.id}", bot_id=bot_id)
    return order


@dataclass
class OrderPaid:
    """An order the inbox paid: its transaction and the subscription it extended."""

    order: Order
    plan: BotPlan
    subscription: Subscription
    payer: User
    payment: None = None  # no platform payment: the inbox row points at none


async def apply_order(session: AsyncSession, *, order_id: int, method: str, charge_id: str, amount: int, currency: str,
                      approved_by: int | None, actor: str, now: datetime) -> OrderPaid:
    """Apply an inbox payment to its order once: the amount checked, a transaction recorded, the subscription extended
    (a panel job queued), a card's use counted. A refusal (closed order, wrong amount) is refunded by the caller."""
    order = await session.get(Order, order_id, with_for_update=True) if 0 < order_id < 2**31 else None
    if order is None:
        raise NotFound("order_unknown", code="order_unknown")
    if order.status not in ("pending", "awaiting_review") or order.method != method:
        raise Conflict("order_closed")
    expected = (order.stars, "XTR") if method == STARS else (order.amount_kopeks, "RUB")
    if (amount, currency) != expected:
        raise Conflict(f"the order costs {format_money(expected[0], expected[1])}, not {format_money(amount, currency)}")
    plan = await session.get(BotPlan, order.bot_plan_id) if order.bot_plan_id else None
    if plan is None:
        raise Conflict("plan_archived")
    payer = await session.get(User, order.user_id)
    session.add(Transaction(bot_id=order.bot_id, user_id=payer.id, kind="subscription_payment", status="succeeded",
                            amount_kopeks=order.amount_kopeks, payment_method=method, external_id=charge_id, created_at=now))
    subscription = await grant_subscription(session, bot_id=order.bot_id, user=payer, days=plan.period_days,
                                            traffic_gb=plan.traffic_limit_gb, devices=plan.device_limit, plan_id=plan.id,
                                            status="active", now=now)
    await reward_referrer(session, bot_id=order.bot_id, invitee=payer, actor=actor)
    order.status, order.reviewed_by = "paid", approved_by
    if order.card_id is not None:
        await cards.count_card_use(session, bot_id=order.bot_id, card_id=order.card_id)
    await session.flush()
    await record(session, actor=actor, action="order.paid", entity=f"order:{order.id}", bot_id=order.bot_id,
                 after={"method": method, "charge_id": charge_id, "amount_kopeks": order.amount_kopeks, "plan": plan.name})
    return OrderPaid(order, plan, subscription, payer)
