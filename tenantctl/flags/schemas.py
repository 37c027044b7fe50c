"""Read shapes of the flags domain: catalogue features and overrides."""

from __future__ import annotations

from typing import Any

from tenantctl.flags.models import Feature, TenantFeatureOverride

STORED_FIELDS = (
    "env_key",
    "env_aliases",
    "category",
    "kind",
    "allowed_values",
    "default_enabled",
    "default_value",
    "default_config",
    "config_keys",
    "secret_keys",
    "description",
    "is_present",
    "master_only",
)


def feature_as_dict(feature: Feature) -> dict[str, Any]:
    """JSON-ready form of a stored feature."""
    return {"key": feature.key, **{name: getattr(feature, name) for name in STORED_FIELDS}}


def override_as_dict(override: TenantFeatureOverride) -> dict[str, Any]:
    """JSON-ready form of an override (for audit and output)."""
    return {
        "enabled": override.enabled,
        "value": override.value,
        "config": override.config_override,
        "rollout_percent": override.rollout_percent,
        "rollout_by": override.rollout_by,
        "expires_at": override.expires_at.isoformat() if override.expires_at else None,
        "reason": override.reason,
        "created_by": override.created_by,
    }
