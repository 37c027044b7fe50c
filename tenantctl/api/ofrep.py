"""A tenant's flags in the shape of OFREP 0.3.0 (the OpenFeature Remote Evaluation Protocol).

A switch evaluates to a boolean, a mode to its string value, and `{key}.config` to the merged
config object without secret keys. The reason says where the value came from: STATIC (the
catalogue default or the plan), TARGETING_MATCH (a master override), DISABLED (the subscription
is not active, so every flag is off).
"""

from __future__ import annotations

from typing import Any

from tenantctl.flags.keys import is_sensitive_key

CONFIG_SUFFIX = ".config"
REASONS = {"default": "STATIC", "plan": "STATIC", "override": "TARGETING_MATCH"}


def _variant(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "config" if isinstance(value, dict) else str(value)


def evaluations(rows: list[dict[str, Any]], *, active: bool) -> dict[str, dict[str, Any]]:
    """Every flag of a tenant (its `explain_bot_flags` rows), by OFREP key, as OFREP success bodies."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["master_only"] or not row["present"]:
            continue
        reason = REASONS.get(row["source"], "STATIC") if active else "DISABLED"
        metadata = {"source": row["source"], "category": row["category"]}
        config = {key: value for key, value in (row["config"] or {}).items() if not is_sensitive_key(key)}
        for key, value in ((row["key"], row["value"]), (row["key"] + CONFIG_SUFFIX, config)):
            found[key] = {"key": key, "value": value, "reason": reason, "variant": _variant(value), "metadata": metadata}
    return found
