"""Self-service tenant registration: a durable draft, the activation fee, and completion.

The draft lives in `tenant_registrations` and advances one step at a time, so a restarted bot
resumes where the user was. Completion goes through `tenants.service.provision_tenant` in the
caller's transaction, together with marking the payment succeeded, and is idempotent: the
registration row is locked first (an UPDATE, which also serialises SQLite writers) and
(method, external_id) is unique, so duplicates and races yield one tenant and one payment.
Money arriving is settled in `onboarding.payments`, which calls `complete_paid_registration`.

The step functions take the draft the adapter loaded for this update (`open_registration_and_language`)
and check on that row that it is the user's and at the right step. No aiogram here: the bot
adapter calls these functions and renders what they return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.billing.models import CARD, STARS, WAIVED, PlatformPayment
from tenantctl.core.crypto import SecretBox, sha256_hex
from tenantctl.core.db import utcnow
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.core.money import format_money, kopeks_to_stars
from tenantctl.core.settings import Settings
from tenantctl.customers.models import TenantPaymentCard
from tenantctl.customers.cards import choose_card, count_card_use
from tenantctl.onboarding.models import (
    OPEN_REGISTRATION_STATUSES,
    REGISTRATION_ABANDON_AFTER,
    TenantRegistration,
)
from tenantctl.plans.models import PlanFeatureGrant, TenantSubscriptionPlan
from tenantctl.tenants.lookup import get_master
from tenantctl.tenants.permissions import Permission, is_master_admin, require
from tenantctl.tenants.rules import DEFAULT_LANGUAGE, LANGUAGES, normalize_support
from tenantctl.tenants.service import (
    ProvisionResult,
    ensure_name_free,
    ensure_token_free,
    provision_tenant,
)
from tenantctl.tenants.telegram import BotIdentity, validate_token_format

STEPS = ("bot_name", "bot_token", "language", "support", "plan", "payment_method", "confirm")


# ----- the draft ----------------------------------------------------------------------------


async def open_registration_and_language(session: AsyncSession, *, telegram_user_id: int) -> tuple[TenantRegistration | None, str | None]:
    """The user's open registration (draft or waiting for payment/review), if any, and the language they
    chose last, in one query: the open registration is always the user's newest, so the two newest
    rows that are open or carry a language hold both answers."""
    rows = (await session.scalars(
        select(TenantRegistration)
        .where(TenantRegistration.telegram_user_id == telegram_user_id,
               or_(TenantRegistration.status.in_(OPEN_REGISTRATION_STATUSES), TenantRegistration.language.is_not(None)))
        .order_by(TenantRegistration.id.desc())
        .limit(2)
    )).all()
    draft = rows[0] if rows and rows[0].status in OPEN_REGISTRATION_STATUSES else None
    return draft, next((row.language for row in rows if row.language), None)


async def start_registration(session: AsyncSession, *, telegram_user_id: int,
                             current: TenantRegistration | None) -> tuple[TenantRegistration, bool]:
    """The user's open registration `current` (resumed=True), or a new draft at the first step."""
    if current is not None:
        return check_owner(current, telegram_user_id=telegram_user_id), True
    draft = TenantRegistration(telegram_user_id=telegram_user_id, status="draft", step=STEPS[0])
    session.add(draft)
    await session.flush()
    return draft, False


def check_owner(registration: TenantRegistration | None, *, telegram_user_id: int) -> TenantRegistration:
    """The registration if it is this user's; NotFound otherwise."""
    if registration is None or registration.telegram_user_id != telegram_user_id:
        raise NotFound("no such registration")
    return registration


def check_step(draft: TenantRegistration | None, *, telegram_user_id: int, step: str) -> TenantRegistration:
    """The user's own registration if it is still a draft at `step`; NotFound/Conflict otherwise."""
    draft = check_owner(draft, telegram_user_id=telegram_user_id)
    if draft.status != "draft" or draft.step != step:
        raise Conflict("step_out_of_order")
    return draft


async def _advance(session: AsyncSession, draft: TenantRegistration) -> TenantRegistration:
    """On to the next step, written with the step's own changes in one UPDATE."""
    draft.step = STEPS[STEPS.index(draft.step) + 1]
    await session.flush()
    return draft


async def set_bot_name(session: AsyncSession, *, draft: TenantRegistration | None, telegram_user_id: int,
                       name: str) -> TenantRegistration:
    """Store the bot's display name (normalised, 3-64 characters, not used by another bot)."""
    draft = check_step(draft, telegram_user_id=telegram_user_id, step="bot_name")
    draft.bot_name = await ensure_name_free(session, name=name)
    return await _advance(session, draft)


def validated_token(token: str) -> str:
    """The token stripped if it looks like one from @BotFather; Invalid("token_format") otherwise."""
    try:
        return validate_token_format(token)
    except Invalid:
        raise Invalid("token_format", code="token_format") from None


async def ensure_token_unreserved(session: AsyncSession, *, fingerprint: str, registration_id: int | None = None) -> None:
    """Refuse a token that another registration in progress holds (one untouched for a week holds nothing)."""
    reserved = select(TenantRegistration.id).where(
        TenantRegistration.token_fingerprint == fingerprint,
        TenantRegistration.status.in_(OPEN_REGISTRATION_STATUSES),
        TenantRegistration.updated_at > utcnow() - REGISTRATION_ABANDON_AFTER,
    )
    if registration_id is not None:
        reserved = reserved.where(TenantRegistration.id != registration_id)
    if await session.scalar(reserved.limit(1)):
        raise Conflict("that bot token is held by a registration in progress (waiting for its payment)", code="token_taken")


async def create_tenant(session: AsyncSession, *, token: str, identity: BotIdentity | None, **provision: Any) -> ProvisionResult:
    """`tenant create`: provision a tenant, unless a registration in progress holds its token."""
    await ensure_token_unreserved(session, fingerprint=sha256_hex(validate_token_format(token)))
    return await provision_tenant(session, token=token, identity=identity, **provision)


async def set_token(session: AsyncSession, *, registration_id: int, telegram_user_id: int, token: str,
                    identity: BotIdentity | None, box: SecretBox) -> TenantRegistration:
    """Store the bot token (encrypted) and who it belongs to, as getMe said (None: getMe refused it).

    The adapter calls getMe with no transaction open, so this runs in a unit of work of its own
    and reads the draft again; the token is checked once, here, with the bot's id from getMe.
    """
    token = validated_token(token)
    if identity is None:
        raise Invalid("token_rejected")
    draft = check_step(await session.get(TenantRegistration, registration_id), telegram_user_id=telegram_user_id, step="bot_token")
    fingerprint = sha256_hex(token)
    await ensure_token_free(session, fingerprint=fingerprint, telegram_id=identity.id)
    await ensure_token_unreserved(session, fingerprint=fingerprint, registration_id=draft.id)
    draft.token_encrypted, draft.token_fingerprint = box.encrypt(token), fingerprint
    draft.bot_username, draft.bot_telegram_id = identity.username, identity.id
    return await _advance(session, draft)


async def set_language(session: AsyncSession, *, draft: TenantRegistration | None, telegram_user_id: int,
                       language: str) -> TenantRegistration:
    """Store the bot's default language: ru, en or fa."""
    draft = check_step(draft, telegram_user_id=telegram_user_id, step="language")
    if language not in LANGUAGES:
        raise Invalid("language_unknown")
    draft.language = language
    return await _advance(session, draft)


async def set_support(session: AsyncSession, *, draft: TenantRegistration | None, telegram_user_id: int,
                      username: str | None) -> TenantRegistration:
    """Store the optional support username (@name, 5-32 characters); None skips it."""
    draft = check_step(draft, telegram_user_id=telegram_user_id, step="support")
    try:
        draft.support_username = normalize_support(username)
    except Invalid:
        raise Invalid("support_invalid") from None
    return await _advance(session, draft)


@dataclass
class PlanOffer:
    plan: TenantSubscriptionPlan
    features: list[str] | None  # None: every feature
    stars: int


async def plan_offers(session: AsyncSession, *, settings: Settings) -> list[PlanOffer]:
    """The active plans with their granted features and the activation fee in Stars (one query)."""
    rows = (await session.execute(
        select(TenantSubscriptionPlan, PlanFeatureGrant.feature_key)
        .outerjoin(PlanFeatureGrant, and_(PlanFeatureGrant.plan_tier_id == TenantSubscriptionPlan.id, PlanFeatureGrant.enabled.is_(True)))
        .where(TenantSubscriptionPlan.is_active.is_(True))
        .order_by(TenantSubscriptionPlan.sort_order, TenantSubscriptionPlan.id, PlanFeatureGrant.feature_key)
    )).all()
    granted: dict[TenantSubscriptionPlan, list[str]] = {}
    for plan, key in rows:
        granted.setdefault(plan, []).extend([key] if key else [])
    return [PlanOffer(plan, None if plan.grants_all_features else keys, kopeks_to_stars(plan.activation_fee_kopeks, settings.stars_rate_kopeks))
            for plan, keys in granted.items()]


async def set_plan(session: AsyncSession, *, draft: TenantRegistration | None, telegram_user_id: int,
                   plan_id: int) -> TenantRegistration:
    """Store the chosen plan (an active one) and its activation fee."""
    draft = check_step(draft, telegram_user_id=telegram_user_id, step="plan")
    plan = await session.get(TenantSubscriptionPlan, plan_id)
    if plan is None or not plan.is_active:
        raise Invalid("plan_unknown")
    draft.plan_tier_id, draft.fee_kopeks = plan.id, plan.activation_fee_kopeks
    return await _advance(session, draft)


async def card_for_payment(session: AsyncSession, *, payment: PlatformPayment) -> TenantPaymentCard | None:
    """The master's card this card payment goes to: the one shown before while it is active, else the next
    in rotation (remembered on the payment); None when the master has no active card."""
    master = await get_master(session)
    if master is None:
        return None
    card_id = (payment.receipt or {}).get("card_id")
    card = await session.get(TenantPaymentCard, card_id) if card_id else None
    if card is None or card.bot_id != master.id or not card.is_active:
        card = await choose_card(session, bot_id=master.id)
        payment.receipt = {**(payment.receipt or {}), "card_id": card.id if card else None}
        await session.flush()
    return card


@dataclass(frozen=True)
class PaymentOptions:
    """How a registration's activation fee can be paid: waived, or Stars and (with a master card) card."""

    waived: bool
    fee_kopeks: int
    stars: int
    card: bool


def _fee(draft: TenantRegistration, *, telegram_user_id: int, settings: Settings) -> tuple[bool, int, int]:
    """(waived, fee in kopeks, fee in Stars): a master admin, or a plan without a fee, pays nothing."""
    fee = draft.fee_kopeks or 0
    waived = is_master_admin(settings.master_admin_ids, telegram_user_id) or fee == 0
    return waived, fee, kopeks_to_stars(fee, settings.stars_rate_kopeks) if fee else 0


async def _card_available(session: AsyncSession) -> bool:
    master = await get_master(session)
    return master is not None and await choose_card(session, bot_id=master.id) is not None


async def payment_options(session: AsyncSession, *, draft: TenantRegistration, telegram_user_id: int,
                          settings: Settings) -> PaymentOptions:
    """What the payment step offers."""
    waived, fee, stars = _fee(draft, telegram_user_id=telegram_user_id, settings=settings)
    return PaymentOptions(waived, fee, stars, card=not waived and await _card_available(session))


async def choose_payment(session: AsyncSession, *, draft: TenantRegistration | None, telegram_user_id: int, method: str,
                         settings: Settings) -> PlatformPayment:
    """Pick one of the `payment_options` and (re)write the pending activation payment for it.

    Stars are whole Stars converted at STARS_RATE_KOPEKS; a card payment is in kopeks.
    """
    draft = check_step(draft, telegram_user_id=telegram_user_id, step="payment_method")
    waived, fee, stars = _fee(draft, telegram_user_id=telegram_user_id, settings=settings)
    if waived:
        method, amount, currency = WAIVED, 0, "RUB"
    elif method == STARS:
        amount, currency = stars, "XTR"
    elif method == CARD:
        if not await _card_available(session):
            raise Invalid("card_unavailable")
        amount, currency = fee, "RUB"
    else:
        raise Invalid("method_unknown")
    payment = await pending_payment(session, registration_id=draft.id)
    if payment is None:
        payment = PlatformPayment(registration_id=draft.id, purpose="activation", status="pending")
        session.add(payment)
    payment.method, payment.amount_minor, payment.currency = method, amount, currency
    draft.payment_method = method
    await _advance(session, draft)
    await record(session, actor=f"tg:{telegram_user_id}", action="registration.payment_method", entity=f"registration:{draft.id}",
                 after={"method": method, "amount": amount, "currency": currency})
    return payment


async def pending_payment(session: AsyncSession, *, registration_id: int) -> PlatformPayment | None:
    """The registration's activation payment still open (pending or under review), if any."""
    return await session.scalar(
        select(PlatformPayment)
        .where(PlatformPayment.registration_id == registration_id, PlatformPayment.purpose == "activation",
               PlatformPayment.status.in_(("pending", "awaiting_review")))
        .order_by(PlatformPayment.id.desc())
        .limit(1)
    )


async def confirm(session: AsyncSession, *, draft: TenantRegistration | None, telegram_user_id: int, box: SecretBox,
                  actor: str) -> PlatformPayment | Completion:
    """The user confirmed the summary: the registration now waits for its payment, or (fee waived) completes at once."""
    draft = check_step(draft, telegram_user_id=telegram_user_id, step="confirm")
    payment = await pending_payment(session, registration_id=draft.id)
    if payment is None:
        raise Conflict("step_out_of_order")
    if payment.method == WAIVED:  # nothing to pay; if completion is refused, the draft stays at its confirmation
        async with session.begin_nested():
            draft.status = "awaiting_payment"
            return await complete_paid_registration(session, registration_id=draft.id, method=WAIVED, external_id=f"waived:{draft.id}",
                                                    amount=0, currency="RUB", box=box, actor=actor)
    draft.status, draft.step = "awaiting_payment", "payment"
    await session.flush()
    return payment


async def go_back(session: AsyncSession, *, draft: TenantRegistration | None, telegram_user_id: int) -> TenantRegistration:
    """One step back; an unpaid registration waiting for payment goes back to its confirmation."""
    draft = check_owner(draft, telegram_user_id=telegram_user_id)
    if draft.status == "awaiting_payment":
        draft.status, draft.step = "draft", "confirm"
    elif draft.status == "draft":
        draft.step = STEPS[max(STEPS.index(draft.step) - 1, 0)]
    else:
        raise Conflict("step_out_of_order")
    await session.flush()
    return draft


async def cancel(session: AsyncSession, *, draft: TenantRegistration | None, telegram_user_id: int) -> TenantRegistration | None:
    """Cancel the user's open registration `draft` and its unpaid payment; None if there was none."""
    if draft is None:
        return None
    check_owner(draft, telegram_user_id=telegram_user_id)
    await session.execute(
        update(PlatformPayment)
        .where(PlatformPayment.registration_id == draft.id, PlatformPayment.status.in_(("pending", "awaiting_review")))
        .values(status="cancelled")
    )
    draft.status, draft.token_encrypted = "cancelled", None
    await session.flush()
    await record(session, actor=f"tg:{telegram_user_id}", action="registration.cancel", entity=f"registration:{draft.id}",
                 after={"step": draft.step, "bot_name": draft.bot_name})
    return draft


# ----- paying and completing ----------------------------------------------------------------


async def check_payable(session: AsyncSession, *, draft: TenantRegistration | None, registration_id: int, telegram_user_id: int,
                        currency: str, amount: int) -> PlatformPayment:
    """For pre-checkout: the user's open registration is `registration_id` and still waits for exactly
    this Stars payment. The token was checked when it was given, and completion checks it again
    (refunding the payment if it was taken meanwhile), so it is not checked here a third time."""
    if draft is None or draft.id != registration_id or draft.telegram_user_id != telegram_user_id:
        raise NotFound("not_payable")
    if draft.status != "awaiting_payment":
        raise Conflict("not_payable")
    payment = await pending_payment(session, registration_id=registration_id)
    if payment is None or payment.method != STARS or (payment.currency, payment.amount_minor) != (currency, amount):
        raise Conflict("not_payable")
    return payment


@dataclass
class Completion:
    """A registration paid for: completed now (`provisioned`: the tenant and its API token) or before (None)."""

    registration: TenantRegistration
    payment: PlatformPayment | None
    provisioned: ProvisionResult | None


async def _lock_registration(session: AsyncSession, registration_id: int) -> TenantRegistration:
    """Lock the row and read it fresh in one statement: the UPDATE takes PostgreSQL's row lock and
    SQLite's write lock before anything is read."""
    registration = await session.scalar(
        update(TenantRegistration).where(TenantRegistration.id == registration_id).values(updated_at=func.now())
        .returning(TenantRegistration),
        execution_options={"populate_existing": True},
    )
    if registration is None:
        raise NotFound(f"no registration {registration_id}")
    return registration


async def complete_paid_registration(session: AsyncSession, *, registration_id: int, method: str, external_id: str,
                                     amount: int, currency: str, box: SecretBox, actor: str,
                                     stars_rate_kopeks: int | None = None) -> Completion:
    """Mark the activation payment succeeded and create the tenant, exactly once.

    A repeat of the same payment returns the completed registration with no API token; another
    payment for a completed registration is refused (Conflict "already_paid"), as is one that
    cannot complete. The payment must settle the registration's pending payment of its method, in
    its currency and amount, and that fee must still be the plan's. Refusals come before any change
    but the row lock. Stars that arrive after the user switched the pending payment to card (the
    invoice was already out) pay the fee at `stars_rate_kopeks`, today's rate.
    """
    registration = await _lock_registration(session, registration_id)
    same = await session.scalar(select(PlatformPayment).where(
        PlatformPayment.method == method, PlatformPayment.external_id == external_id))
    if same is not None:
        return Completion(registration, same, None)
    if registration.status == "completed":
        raise Conflict(f"registration {registration.id} was paid already", code="already_paid")
    if registration.status not in ("awaiting_payment", "awaiting_review"):
        raise Conflict(f"registration {registration.id} is {registration.status}: it cannot be paid")
    payment = await pending_payment(session, registration_id=registration.id)
    if payment is not None and (method, payment.method, payment.status) == (STARS, CARD, "pending") and stars_rate_kopeks:
        payment.method, payment.currency = STARS, "XTR"
        payment.amount_minor = kopeks_to_stars(registration.fee_kopeks or 0, stars_rate_kopeks)
        registration.payment_method = STARS
    if payment is None or payment.method != method:
        raise Conflict(f"registration {registration.id} waits for no {method} payment", code="not_payable")
    if (payment.currency, payment.amount_minor) != (currency, amount):
        raise Conflict(f"paid {format_money(amount, currency)}, expected {format_money(payment.amount_minor, payment.currency)}",
                       code="amount_mismatch")
    plan = await session.get(TenantSubscriptionPlan, registration.plan_tier_id)
    if plan is None:
        raise Conflict("the registration's plan no longer exists")
    if method != WAIVED and plan.activation_fee_kopeks != registration.fee_kopeks:
        raise Conflict(f"the {plan.name} plan's fee is {format_money(plan.activation_fee_kopeks)} now, not the "
                       f"{format_money(registration.fee_kopeks or 0)} offered", code="price_changed")
    identity = BotIdentity(registration.bot_telegram_id, registration.bot_username or "", registration.bot_name or "")
    result = await provision_tenant(  # it, too, refuses before it writes anything
        session, name=registration.bot_name, token=box.decrypt(registration.token_encrypted),
        owner_telegram_id=registration.telegram_user_id, plan=plan, box=box, actor=actor, identity=identity,
        language=registration.language or DEFAULT_LANGUAGE, support_username=registration.support_username,
    )
    payment.status, payment.external_id, payment.bot_id = "succeeded", external_id, result.bot.id
    payment.amount_minor, payment.currency, payment.reviewed_at = amount, currency, utcnow()
    registration.status, registration.step, registration.bot_id = "completed", "done", result.bot.id
    registration.token_encrypted = None  # the bot row holds it now
    card_id = (payment.receipt or {}).get("card_id") if method == CARD else None
    if card_id:
        await count_card_use(session, bot_id=(await get_master(session)).id, card_id=card_id)
    await session.flush()
    await record(session, actor=actor, action="registration.complete", entity=f"registration:{registration.id}",
                 bot_id=result.bot.id, after={"method": method, "amount": amount, "currency": currency})
    return Completion(registration, payment, result)


async def submit_receipt(session: AsyncSession, *, draft: TenantRegistration | None, telegram_user_id: int,
                         photo_file_id: str | None = None, text: str | None = None) -> PlatformPayment:
    """Attach a card-to-card receipt (a photo or text); the payment then waits for a master admin."""
    registration = check_owner(draft, telegram_user_id=telegram_user_id)
    if registration.status != "awaiting_payment" or registration.payment_method != CARD:
        raise Conflict("not_payable")
    if not photo_file_id and not (text or "").strip():
        raise Invalid("receipt_empty")
    payment = await pending_payment(session, registration_id=registration.id)
    if payment is None:
        payment = PlatformPayment(registration_id=registration.id, purpose="activation", method=CARD,
                                  amount_minor=registration.fee_kopeks or 0, currency="RUB")
        session.add(payment)
    payment.status = "awaiting_review"
    receipt = {"photo_file_id": photo_file_id} if photo_file_id else {"text": text.strip()[:2000]}
    payment.receipt = {**(payment.receipt or {}), **receipt}
    registration.status, registration.step = "awaiting_review", "review"
    await session.flush()
    await record(session, actor=f"tg:{telegram_user_id}", action="registration.receipt", entity=f"registration:{registration.id}",
                 after={"payment_id": payment.id, "amount": payment.amount_minor, "receipt": "photo" if photo_file_id else "text"})
    return payment


@dataclass
class Review:
    payment: PlatformPayment
    registration: TenantRegistration
    note: str


async def reject_payment(session: AsyncSession, *, payment_id: int, reviewer_id: int, note: str | None, settings: Settings) -> Review:
    """A master admin rejects a card receipt, with a reason the payer will see; the registration waits for a payment again.

    An approval is money arriving, so it goes through the payment inbox (`onboarding.payments.receive_card_approval`)."""
    await require(session, master_admins=settings.master_admin_ids, actor_telegram_id=reviewer_id, bot_id=None,
                  permission=Permission.REVIEW_PLATFORM_PAYMENTS)
    payment = await session.get(PlatformPayment, payment_id)
    if payment is None or payment.registration_id is None or payment.method != CARD:
        raise NotFound("payment_unknown")
    registration = await _lock_registration(session, payment.registration_id)
    await session.refresh(payment)
    if payment.status == "succeeded" or registration.status == "completed":
        raise Conflict("already_approved")
    if payment.status == "rejected":
        raise Conflict("already_rejected")
    if payment.status != "awaiting_review":
        raise Conflict("not_payable")
    if not (note or "").strip():
        raise Invalid("reason_required")
    payment.reviewed_by, payment.reviewed_at, payment.review_note = reviewer_id, utcnow(), note
    payment.status = "rejected"
    registration.status, registration.step = "awaiting_payment", "payment"
    await session.flush()
    await record(session, actor=f"tg:{reviewer_id}", action="registration.reject", entity=f"registration:{registration.id}",
                 after={"payment_id": payment.id, "note": note})
    return Review(payment, registration, note)
