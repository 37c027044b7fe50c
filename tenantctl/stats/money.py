"""The money invariants, checked read-only over billing, onboarding and the tenants (`tenantctl billing verify`).

- every succeeded payment has its effect: an activation, its tenant activated; a renewal, its period extended;
  every applied inbox payment, its succeeded payment;
- no payment is counted twice: one activation per registration and per tenant, one inbox payment per payment;
- every refund is recorded: a refunded or refunding inbox payment has its refund row, in step with it, and none failed;
- every end user's order paid through the inbox has its one transaction, and no order is paid without a payment;
- the succeeded activation payments add up to the fees of the tenants they activated, per currency: the fee its
  registration offered, or for a tenant created by hand its plan's (Stars at today's STARS_RATE_KOPEKS).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.billing.models import (
    APPLIED,
    RECEIVED,
    REFUND_DONE,
    REFUND_FAILED,
    REFUNDED,
    WAIVED,
    PaymentInbox,
    PlatformPayment,
    PlatformRefund,
)
from tenantctl.billing.storefront import ORDER_PAYLOAD
from tenantctl.core.money import format_money, kopeks_to_stars
from tenantctl.customers.models import Order, Transaction
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.plans.models import TenantSubscription, TenantSubscriptionPlan
from tenantctl.tenants.models import Bot


def _issue(check: str, detail: str) -> dict[str, str]:
    return {"check": check, "detail": detail}


async def _activations(session: AsyncSession, stars_rate_kopeks: int) -> list[dict[str, str]]:
    rows = (await session.execute(
        select(PlatformPayment, Bot, TenantSubscription.id, TenantSubscriptionPlan.activation_fee_kopeks, TenantRegistration)
        .outerjoin(Bot, Bot.id == PlatformPayment.bot_id)
        .outerjoin(TenantSubscription, TenantSubscription.bot_id == Bot.id)
        .outerjoin(TenantSubscriptionPlan, TenantSubscriptionPlan.id == TenantSubscription.plan_tier_id)
        .outerjoin(TenantRegistration, TenantRegistration.id == PlatformPayment.registration_id)
        .where(PlatformPayment.purpose == "activation", PlatformPayment.status == "succeeded")
        .order_by(PlatformPayment.id)
    )).all()
    issues, paid, fees = [], defaultdict(int), defaultdict(int)
    for payment, bot, subscription_id, plan_fee, registration in rows:
        what = f"activation payment {payment.id} ({format_money(payment.amount_minor, payment.currency)})"
        fee = None  # the fee of the tenant it activated: its registration's, else (created by hand) its plan's
        if bot is None:
            issues.append(_issue("effect", f"{what} activated no tenant"))
        elif subscription_id is None:
            issues.append(_issue("effect", f"{what}: bot {bot.id} was never activated (no subscription)"))
        elif registration is not None and (registration.status, registration.bot_id) != ("completed", bot.id):
            issues.append(_issue("effect", f"{what}: its registration {registration.id} did not complete with bot {bot.id}"))
        else:
            fee = (registration.fee_kopeks or 0) if registration is not None else plan_fee
        if payment.method == WAIVED:
            continue
        paid[payment.currency] += payment.amount_minor
        if fee is not None:
            fees[payment.currency] += kopeks_to_stars(fee, stars_rate_kopeks) if payment.currency == "XTR" else fee
    for currency in sorted(paid.keys() | fees.keys()):
        if paid[currency] != fees[currency]:
            issues.append(_issue("sum", f"activation payments total {format_money(paid[currency], currency)}, the fees of the tenants "
                                        f"they activated {format_money(fees[currency], currency)}"))
    return issues


async def _renewals(session: AsyncSession) -> list[dict[str, str]]:
    rows = (await session.execute(
        select(PlatformPayment, TenantSubscription.end_date)
        .outerjoin(TenantSubscription, TenantSubscription.bot_id == PlatformPayment.bot_id)
        .where(PlatformPayment.purpose == "renewal", PlatformPayment.status == "succeeded")
        .order_by(PlatformPayment.id)
    )).all()
    issues = []
    for payment, end_date in rows:
        what = f"renewal payment {payment.id} ({format_money(payment.amount_minor, payment.currency)})"
        if end_date is None:
            issues.append(_issue("effect", f"{what} extended no subscription (bot {payment.bot_id})"))
        elif payment.due_at is not None and end_date <= payment.due_at:
            issues.append(_issue("effect", f"{what}: bot {payment.bot_id}'s period ends {end_date.date()}, not after {payment.due_at.date()}"))
    return issues


async def _doubles(session: AsyncSession) -> list[dict[str, str]]:
    activation = (PlatformPayment.purpose == "activation", PlatformPayment.status == "succeeded")
    issues = []
    for column, name in ((PlatformPayment.registration_id, "registration"), (PlatformPayment.bot_id, "tenant bot")):
        for key, count in (await session.execute(
                select(column, func.count()).where(*activation, column.is_not(None)).group_by(column).having(func.count() > 1))).all():
            issues.append(_issue("double", f"{name} {key} has {count} succeeded activation payments"))
    for payment_id, count in (await session.execute(
            select(PaymentInbox.payment_id, func.count()).where(PaymentInbox.payment_id.is_not(None))
            .group_by(PaymentInbox.payment_id).having(func.count() > 1))).all():
        issues.append(_issue("double", f"payment {payment_id} was paid by {count} inbox payments"))
    return issues


async def _inbox(session: AsyncSession) -> list[dict[str, str]]:
    rows = (await session.execute(
        select(PaymentInbox, PlatformPayment.status, PlatformRefund)
        .outerjoin(PlatformPayment, PlatformPayment.id == PaymentInbox.payment_id)
        .outerjoin(PlatformRefund, PlatformRefund.inbox_id == PaymentInbox.id)
        .order_by(PaymentInbox.id)
    )).all()
    issues = []
    for row, payment_status, refund in rows:
        what = f"{row.method} charge {row.charge_id} ({format_money(row.amount_minor, row.currency)})"
        if row.status == RECEIVED:
            issues.append(_issue("effect", f"{what} is not applied or refunded yet (run billing reconcile)"))
        elif row.status == APPLIED and row.payload.startswith(ORDER_PAYLOAD):
            continue  # an end user's order: `_orders` checks its effect
        elif row.status == APPLIED and payment_status != "succeeded":
            issues.append(_issue("effect", f"{what} is applied, but its payment {row.payment_id} is {payment_status or 'missing'}"))
        elif row.status != APPLIED and refund is None:
            issues.append(_issue("refund", f"{what} is {row.status} with no refund recorded"))
        elif row.status != APPLIED and (row.status == REFUNDED) != (refund.status == REFUND_DONE):
            issues.append(_issue("refund", f"{what} is {row.status}, its refund {refund.id} {refund.status}"))
        elif refund is not None and refund.status == REFUND_FAILED:
            issues.append(_issue("refund", f"refund {refund.id} of {what} to user {refund.payer_telegram_id} failed after "
                                           f"{refund.attempts} attempts ({refund.last_error}): pay it back by hand"))
    return issues


async def _orders(session: AsyncSession) -> list[dict[str, str]]:
    """End users' orders: each applied inbox payment paid its order with one transaction; no order paid without one."""
    applied = (await session.execute(
        select(PaymentInbox, Order, func.count(Transaction.id))
        .outerjoin(Order, Order.id == cast(func.substr(PaymentInbox.payload, len(ORDER_PAYLOAD) + 1), Integer))
        .outerjoin(Transaction, (Transaction.bot_id == Order.bot_id) & (Transaction.external_id == PaymentInbox.charge_id)
                   & (Transaction.status == "succeeded"))
        .where(PaymentInbox.payload.startswith(ORDER_PAYLOAD), PaymentInbox.status == APPLIED)
        .group_by(PaymentInbox.id, Order.id).order_by(PaymentInbox.id)
    )).all()
    issues = []
    for row, order, transactions in applied:
        what = f"{row.method} charge {row.charge_id} ({format_money(row.amount_minor, row.currency)})"
        if order is None or order.status != "paid":
            issues.append(_issue("effect", f"{what} is applied, but its order is {order.status if order else 'missing'}"))
        elif transactions != 1:
            issues.append(_issue("double" if transactions else "effect", f"{what} paid order {order.id} with {transactions} transactions"))
    paid_ids = {order.id for _, order, _ in applied if order is not None}
    for order_id, in (await session.execute(select(Order.id).where(Order.status == "paid").order_by(Order.id))).all():
        if order_id not in paid_ids:
            issues.append(_issue("effect", f"order {order_id} is paid, but no applied payment paid it"))
    return issues


async def verify_money(session: AsyncSession, *, stars_rate_kopeks: int) -> list[dict[str, str]]:
    """Every broken money invariant, one {check, detail} each (none: the books agree)."""
    return (await _activations(session, stars_rate_kopeks) + await _renewals(session) + await _doubles(session)
            + await _inbox(session) + await _orders(session))
