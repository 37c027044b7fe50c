"""The pure flag resolver: catalogue default, then the plan's layer, then the override's layer.

No database here: `plans.effective` reads the layers and writes what this resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenantctl.flags.catalogue import mode_is_on
from tenantctl.flags.models import Feature

def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Objects merge key by key; lists and scalars in `override` replace whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def first_on_value(feature: Feature) -> str | None:
    """The mode value a plain 'on' means: the default if it is on, else the first allowed on value."""
    if mode_is_on(feature.default_value):
        return feature.default_value
    return next((v for v in feature.allowed_values if mode_is_on(v)), None)


@dataclass(frozen=True)
class Layer:
    """One layer's say about a feature: enabled (None: inherit), a mode value, a config override."""

    enabled: bool | None
    value: str | None = None
    config: dict[str, Any] | None = None

    def shown(self) -> bool | str | None:
        """What a person sees for this layer: the mode value, or the switch."""
        if self.value is not None:
            return self.value
        return self.enabled


@dataclass(frozen=True)
class Effective:
    enabled: bool
    value: str | None
    config: dict[str, Any]
    source: str


def resolve(feature: Feature, plan_layer: Layer | None, override: Layer | None, *, active: bool) -> Effective:
    """Apply the three layers to one feature. An inactive subscription turns everything off."""
    if not active:
        return Effective(False, None, dict(feature.default_config), "default")
    enabled = feature.default_enabled
    value = feature.default_value if feature.kind == "mode" else None
    config, source = dict(feature.default_config), "default"
    for layer, name in ((plan_layer, "plan"), (override, "override")):
        if layer is None:
            continue
        if layer.enabled is not None or layer.value is not None or layer.config:
            source = name
        if layer.value is not None:
            value = layer.value
            enabled = mode_is_on(value)
        elif layer.enabled is not None:
            enabled = layer.enabled
            if feature.kind == "mode":
                value = first_on_value(feature) if enabled else None
        config = deep_merge(config, layer.config or {})
    if feature.kind == "mode" and not enabled:
        value = None
    return Effective(enabled, value, config, source)
