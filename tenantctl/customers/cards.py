"""Payment cards for card-to-card payments: added (Luhn-checked), shown masked, disabled, removed, and rotated.

Every function takes the bot the cards belong to (the master's cards take activation fees, a
tenant's take its own users' payments); a card id is only ever looked up within that bot.
"""

from __future__ import annotations

import random

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.core.money import normalize_digits
from tenantctl.customers.models import TenantPaymentCard
from tenantctl.tenants.models import CARD_ROTATIONS, Bot

HOLDER_MAX = 128


def luhn_ok(digits: str) -> bool:
    """Whether a card number's check digit is right (the Luhn algorithm)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def card_number(text: str) -> str:
    """A card number as its digits (spaces and dashes dropped, Persian and Arabic-Indic digits read), Luhn-checked."""
    digits = normalize_digits(text).replace(" ", "").replace("-", "")
    if not digits.isdigit() or not 13 <= len(digits) <= 19:
        raise Invalid("a card number has 13 to 19 digits")
    if not luhn_ok(digits):
        raise Invalid("that card number is mistyped (its check digit is wrong)")
    return digits


def holder_name(text: str) -> str:
    """A card holder's name as typed: 1 to 128 characters, surrounding spaces dropped."""
    holder = (text or "").strip()
    if not holder:
        raise Invalid("the card holder's name is required")
    if len(holder) > HOLDER_MAX:
        raise Invalid(f"the card holder's name is too long, at most {HOLDER_MAX} characters")
    return holder


def masked(number: str) -> str:
    """A card number as shown anywhere but the payment instructions: •••• and its last four digits."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"•••• {digits[-4:]}"


def card_as_dict(card: TenantPaymentCard) -> dict[str, object]:
    """JSON-ready form of a card, masked."""
    return {"id": card.id, "number": masked(card.card_number), "holder": card.holder_name, "bank": card.bank_name,
            "active": card.is_active, "weight": card.weight, "usage_count": card.usage_count}


async def list_cards(session: AsyncSession, *, bot_id: int) -> list[TenantPaymentCard]:
    """Every card of the bot, in display order."""
    return list((await session.scalars(
        select(TenantPaymentCard).where(TenantPaymentCard.bot_id == bot_id).order_by(TenantPaymentCard.sort_order, TenantPaymentCard.id)
    )).all())


async def get_card(session: AsyncSession, *, bot_id: int, card_id: int) -> TenantPaymentCard:
    """The bot's card `card_id` (NotFound for another bot's card, as for none)."""
    card = await session.scalar(select(TenantPaymentCard).where(TenantPaymentCard.id == card_id, TenantPaymentCard.bot_id == bot_id))
    if card is None:
        raise NotFound(f"no card {card_id} on this bot")
    return card


async def add_card(session: AsyncSession, *, bot_id: int, number: str, holder: str, bank: str | None, actor: str,
                   weight: int = 1) -> TenantPaymentCard:
    """Add a card to the bot's rotation (active at once)."""
    digits, holder, bank = card_number(number), holder_name(holder), (bank or "").strip() or None
    if weight < 1:
        raise Invalid("a card's weight is a whole number of at least 1")
    if await session.scalar(select(TenantPaymentCard.id).where(TenantPaymentCard.bot_id == bot_id,
                                                               TenantPaymentCard.card_number == digits)) is not None:
        raise Conflict(f"card {masked(digits)} is already on this bot")
    card = TenantPaymentCard(bot_id=bot_id, card_number=digits, holder_name=holder, bank_name=bank, weight=weight)
    session.add(card)
    await session.flush()
    await record(session, actor=actor, action="card.add", entity=f"card:{card.id}", bot_id=bot_id, after=card_as_dict(card))
    return card


async def set_card_active(session: AsyncSession, *, bot_id: int, card_id: int, active: bool, actor: str) -> TenantPaymentCard:
    """Enable or disable a card: a disabled card is shown to no new payer."""
    card = await get_card(session, bot_id=bot_id, card_id=card_id)
    if card.is_active != active:
        card.is_active = active
        await session.flush()
        await record(session, actor=actor, action="card.enable" if active else "card.disable", entity=f"card:{card.id}",
                     bot_id=bot_id, after=card_as_dict(card))
    return card


async def remove_card(session: AsyncSession, *, bot_id: int, card_id: int, actor: str) -> TenantPaymentCard:
    """Remove a card (payments already made to it keep their record)."""
    card = await get_card(session, bot_id=bot_id, card_id=card_id)
    before = card_as_dict(card)
    await session.delete(card)
    await session.flush()
    await record(session, actor=actor, action="card.remove", entity=f"card:{card_id}", bot_id=bot_id, before=before)
    return card


async def set_rotation(session: AsyncSession, *, bot: Bot, strategy: str, actor: str) -> None:
    """How the bot picks the card a payer sees: round_robin (the least used), random, or weighted (random by weight)."""
    if strategy not in CARD_ROTATIONS:
        raise Invalid(f"unknown rotation {strategy!r}: use {', '.join(CARD_ROTATIONS)}")
    if bot.card_rotation != strategy:
        before, bot.card_rotation = bot.card_rotation, strategy
        await session.flush()
        await record(session, actor=actor, action="card.rotation", entity=f"bot:{bot.id}", bot_id=bot.id,
                     before={"rotation": before}, after={"rotation": strategy})


ACTIVE_CARD = exists().where(TenantPaymentCard.bot_id == bindparam("bot_id"), TenantPaymentCard.is_active.is_(True))
"""Whether the bot (the `bot_id` parameter) has a card a payer can be shown, as a column to select."""
_HAS_ACTIVE_CARD = select(ACTIVE_CARD)


async def has_active_card(session: AsyncSession, *, bot_id: int) -> bool:
    """Whether the bot has a card a payer can be shown."""
    return bool(await session.scalar(_HAS_ACTIVE_CARD, {"bot_id": bot_id}))


async def choose_card(session: AsyncSession, *, bot_id: int) -> TenantPaymentCard | None:
    """The card a new payer sees, by the bot's rotation; None when the bot has no active card."""
    strategy = await session.scalar(select(Bot.card_rotation).where(Bot.id == bot_id))
    cards = (await session.scalars(
        select(TenantPaymentCard).where(TenantPaymentCard.bot_id == bot_id, TenantPaymentCard.is_active.is_(True))
        .order_by(TenantPaymentCard.usage_count, TenantPaymentCard.sort_order, TenantPaymentCard.id)
    )).all()
    if not cards:
        return None
    if strategy == "random":
        return random.choice(cards)
    if strategy == "weighted":
        return random.choices(cards, weights=[card.weight for card in cards])[0]
    return cards[0]


async def count_card_use(session: AsyncSession, *, bot_id: int, card_id: int) -> None:
    """A payment to this card completed (only then): it moves back in the round robin."""
    await session.execute(
        update(TenantPaymentCard)
        .where(TenantPaymentCard.id == card_id, TenantPaymentCard.bot_id == bot_id)
        .values(usage_count=TenantPaymentCard.usage_count + 1)
    )
