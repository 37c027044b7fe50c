"""The master admin panel: /admin in the master bot, for MASTER_ADMIN_IDS only."""

from __future__ import annotations

from tenantctl.bot.routers import Routes

router = Routes("admin_panel")
