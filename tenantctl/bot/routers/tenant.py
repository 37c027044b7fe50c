"""What a tenant bot answers: for now a greeting in its own language, shaped by its feature flags."""

from __future__ import annotations

from aiogram.filters import CommandStart
from aiogram.types import Message

from tenantctl.bot.locales import t
from tenantctl.bot.routers import Routes
from tenantctl.flags.gate import FeatureGate

router = Routes("tenant")
SUPPORT_FEATURE = "support_tickets"


@router.message(CommandStart())
async def start(message: Message, tenant: object, gate: FeatureGate) -> None:
    """Greet with the tenant's name; the support line only when its support feature is on."""
    lines = [t(tenant.default_language, "tenant_welcome", name=tenant.name)]
    if tenant.support_username and gate.is_enabled(tenant.id, SUPPORT_FEATURE):
        lines.append(t(tenant.default_language, "tenant_support", support=tenant.support_username))
    await message.answer("\n".join(lines))
