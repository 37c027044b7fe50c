"""A tenant's own sales setup: the payment cards its buyers see."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.customers.models import TenantPaymentCard


async def active_cards(session: AsyncSession, *, bot_id: int) -> list[TenantPaymentCard]:
    """The bot's active cards for card-to-card payments, in display order."""
    return list((await session.scalars(
        select(TenantPaymentCard)
        .where(TenantPaymentCard.bot_id == bot_id, TenantPaymentCard.is_active.is_(True))
        .order_by(TenantPaymentCard.sort_order, TenantPaymentCard.id)
    )).all())


async def choose_card(session: AsyncSession, *, bot_id: int) -> TenantPaymentCard | None:
    """The card a new payer sees, round robin: the active card with the fewest completed payments."""
    return await session.scalar(
        select(TenantPaymentCard)
        .where(TenantPaymentCard.bot_id == bot_id, TenantPaymentCard.is_active.is_(True))
        .order_by(TenantPaymentCard.usage_count, TenantPaymentCard.sort_order, TenantPaymentCard.id)
        .limit(1)
    )


async def count_card_use(session: AsyncSession, *, bot_id: int, card_id: int) -> None:
    """A payment to this card completed: it moves back in the rotation."""
    await session.execute(
        update(TenantPaymentCard)
        .where(TenantPaymentCard.id == card_id, TenantPaymentCard.bot_id == bot_id)
        .values(usage_count=TenantPaymentCard.usage_count + 1)
    )
