"""What a tenant bot answers: a greeting in its own language, shaped by its feature flags (its admins also get
the dashboard's button), and "this button has expired" for any button no other router took."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.bot.keyboards import keyboard
from tenantctl.bot.locales import t
from tenantctl.bot.outbox import Outbox
from tenantctl.bot.routers import Routes
from tenantctl.bot.routers.dashboard_views import HOME
from tenantctl.core.app import App
from tenantctl.flags.catalogue import SUPPORT_CONTACT_MODES
from tenantctl.flags.gate import FeatureGate
from tenantctl.tenants.permissions import role_of

if TYPE_CHECKING:
    from tenantctl.bot.runner import BotInfo

router = Routes("tenant")
SUPPORT_FEATURE = "support_tickets"


@router.message(CommandStart())
async def start(message: Message, tenant: BotInfo, gate: FeatureGate, outbox: Outbox, session: AsyncSession, app: App,
                lang: str) -> None:
    """Greet with the tenant's name; the support contact only when its support mode offers one; the bot's admins
    also get the dashboard's button."""
    lines = [t(tenant.default_language, "tenant_welcome", name=tenant.name)]
    if tenant.support_username and gate.value(tenant.id, SUPPORT_FEATURE) in SUPPORT_CONTACT_MODES:
        lines.append(t(tenant.default_language, "tenant_support", support=tenant.support_username))
    role = await role_of(session, master_admins=app.settings.master_admin_ids, actor_telegram_id=message.from_user.id,
                         bot_id=tenant.id) if message.from_user else None
    markup = keyboard([(t(lang, "db_btn_open"), HOME)]) if role is not None else None
    outbox.send(message.answer("\n".join(lines), reply_markup=markup))


@router.callback_query()
async def expired_button(query: CallbackQuery, outbox: Outbox, lang: str) -> None:
    """Any other button: forged, from an old version, or not for this user."""
    outbox.send(query.answer(t(lang, "button_expired"), show_alert=True))
