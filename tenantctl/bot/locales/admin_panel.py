"""The texts of the master admin panel (/admin), in ru, en and fa."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {}
