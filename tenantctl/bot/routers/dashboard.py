"""The tenant admin dashboard: /dashboard in a tenant's own bot, /my_bots in the master bot."""

from __future__ import annotations

from tenantctl.bot.routers import Routes

router = Routes("dashboard")
