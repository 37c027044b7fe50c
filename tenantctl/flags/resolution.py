"""The pure flag resolver: catalogue default, then the plan's layer, then the override's layer.

A layer with a rollout applies only to the ids in it (`flags.rollout`); for the others the layer below
answers. A tenant-sticky rollout is decided by the bot id once, when the flags are recomputed; a
user-sticky one leaves a few answers by bucket (`splits`), decided per end user by the gate and OFREP.
No database here: `plans.effective` reads the layers and writes what this resolves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tenantctl.flags.catalogue import mode_is_on
from tenantctl.flags.models import Feature
from tenantctl.flags.rollout import in_rollout

OUTSIDE_EVERY_ROLLOUT = 101  # a bucket above every percentage: the answer for ids in no rollout

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
    rollout_percent: int | None = None  # None: the layer applies to everyone
    rollout_by: str = "tenant"

    def shown(self) -> bool | str | None:
        """What a person sees for this layer: the mode value, or the switch."""
        if self.value is not None:
            return self.value
        return self.enabled

    def rollout(self, feature_key: str, bot_id: int | None) -> dict[str, Any] | None:
        """The layer's rollout as shown: percent, by, and (tenant-sticky, for a bot) whether the bot is in it."""
        if self.rollout_percent is None:
            return None
        inside = in_rollout(feature_key, str(bot_id), self.rollout_percent) if self.rollout_by == "tenant" and bot_id is not None else None
        return {"percent": self.rollout_percent, "by": self.rollout_by, "in": inside}


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


@dataclass(frozen=True)
class Split:
    """A bot's answer for one feature once its tenant-sticky rollouts are decided: the answer for end users in no
    user rollout, the answers for those in one (`splits`: ascending (upto bucket, answer), first match), and
    whether a rollout took part (OFREP's SPLIT)."""

    base: Effective
    splits: list[tuple[int, Effective]] = field(default_factory=list)
    rolled: bool = False


def _for_tenant(layer: Layer | None, feature_key: str, bot_id: int | None) -> Layer | None:
    """The layer if it applies to the bot (a tenant-sticky rollout decided here, so no longer one); a user-sticky
    one is kept."""
    if layer is None or layer.rollout_percent is None or layer.rollout_by == "user":
        return layer
    if bot_id is None:
        raise ValueError("a tenant-sticky rollout needs the bot id")
    return replace(layer, rollout_percent=None) if in_rollout(feature_key, str(bot_id), layer.rollout_percent) else None


def _at_bucket(layer: Layer | None, bucket: int) -> Layer | None:
    """A (tenant-decided) layer for an end user in `bucket`: a user-sticky rollout applies up to its percentage."""
    if layer is None or layer.rollout_percent is None or bucket <= layer.rollout_percent:
        return layer
    return None


def resolve_split(feature: Feature, plan_layer: Layer | None, override: Layer | None, *, active: bool,
                  bot_id: int | None) -> Split:
    """Apply the three layers with their rollouts for one bot (`bot_id` may be None when no rollout is tenant-sticky)."""
    rolled = active and any(layer is not None and layer.rollout_percent is not None for layer in (plan_layer, override))
    plan_layer, override = _for_tenant(plan_layer, feature.key, bot_id), _for_tenant(override, feature.key, bot_id)
    base = resolve(feature, _at_bucket(plan_layer, OUTSIDE_EVERY_ROLLOUT), _at_bucket(override, OUTSIDE_EVERY_ROLLOUT),
                   active=active)
    if not active:
        return Split(base)
    thresholds = sorted({layer.rollout_percent for layer in (plan_layer, override)
                         if layer is not None and layer.rollout_percent})
    splits = [(upto, resolve(feature, _at_bucket(plan_layer, upto), _at_bucket(override, upto), active=True))
              for upto in thresholds]
    while splits and splits[-1][1] == base:  # the same answer as outside every rollout
        splits.pop()
    kept = [(upto, eff) for n, (upto, eff) in enumerate(splits) if n + 1 == len(splits) or eff != splits[n + 1][1]]
    return Split(base, kept, rolled)
