"""The texts of the tenant admin dashboard (/dashboard, /my_bots), in ru, en and fa."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {}
