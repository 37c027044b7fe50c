"""What a tenant bot answers: for now a greeting in its own language, shaped by its feature flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.filters import CommandStart
from aiogram.types import Message

from tenantctl.bot.locales import t
from tenantctl.bot.outbox import Outbox
from tenantctl.bot.routers import Routes
from tenantctl.flags.catalogue import SUPPORT_CONTACT_MODES
from tenantctl.flags.gate import FeatureGate

if TYPE_CHECKING:
    from tenantctl.bot.runner import BotInfo

router = Routes("tenant")
SUPPORT_FEATURE = "support_tickets"


@router.message(CommandStart())
async def start(message: Message, tenant: BotInfo, gate: FeatureGate, outbox: Outbox) -> None:
    """Greet with the tenant's name; the support contact only when its support mode offers one."""
    lines = [t(tenant.default_language, "tenant_welcome", name=tenant.name)]
    if tenant.support_username and gate.value(tenant.id, SUPPORT_FEATURE) in SUPPORT_CONTACT_MODES:
        lines.append(t(tenant.default_language, "tenant_support", support=tenant.support_username))
    outbox.send(message.answer("\n".join(lines)))
