"""Read shapes of the audit log."""

from __future__ import annotations

from typing import Any

from tenantctl.audit.models import AuditEntry


def entry_as_dict(entry: AuditEntry) -> dict[str, Any]:
    """JSON-ready form of one entry."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "entity": entry.entity,
        "bot_id": entry.bot_id,
        "before": entry.before,
        "after": entry.after,
    }
