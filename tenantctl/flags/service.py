"""The stored feature catalogue: syncing it from an extraction, and reading it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.errors import Invalid, NotFound
from tenantctl.core.text import suggest
from tenantctl.flags.catalogue import master_only_reason, mode_is_on
from tenantctl.flags.models import Feature
from tenantctl.flags.resolution import Layer

if TYPE_CHECKING:
    from tenantctl.flags.catalogue import Catalogue, FeatureSpec


def spec_to_row(spec: "FeatureSpec") -> dict[str, Any]:
    """The `features` columns for one extracted feature."""
    return {
        "env_key": spec.env_key,
        "env_aliases": list(spec.env_aliases),
        "category": spec.category,
        "kind": spec.kind,
        "allowed_values": list(spec.allowed_values),
        "default_enabled": spec.enabled,
        "default_value": spec.value,
        "default_config": dict(spec.config),
        "config_keys": list(spec.config),
        "secret_keys": list(spec.secret_keys),
        "description": spec.description,
        "is_present": True,
        "master_only": spec.master_only,
    }


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # key -> changed fields
    absent: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def touched(self) -> list[str]:
        return [*self.added, *self.changed, *self.absent, *self.returned]


async def store_catalogue(session: AsyncSession, *, catalogue: "Catalogue", actor: str, source: str = "") -> SyncReport:
    """Upsert the extracted catalogue; features missing from it are marked absent, never deleted.

    Tenants' flags follow through `plans.effective.sync_catalogue`, which calls this.
    """
    report = SyncReport()
    stored = {f.key: f for f in (await session.scalars(select(Feature).with_for_update())).all()}
    seen = set()
    for spec in catalogue.features:
        seen.add(spec.key)
        row = spec_to_row(spec)
        feature = stored.get(spec.key)
        if feature is None:
            session.add(Feature(key=spec.key, **row))
            report.added.append(spec.key)
            continue
        diff = [name for name, value in row.items() if getattr(feature, name) != value]
        if not diff:
            report.unchanged += 1
            continue
        if diff == ["is_present"]:
            report.returned.append(spec.key)
        else:
            report.changed[spec.key] = [d for d in diff if d != "is_present"]
        for name in diff:
            setattr(feature, name, row[name])
    for key, feature in stored.items():
        if key not in seen and feature.is_present:
            feature.is_present = False
            report.absent.append(key)
    await session.flush()
    if report.touched:
        await record(
            session,
            actor=actor,
            action="flags.sync",
            entity="features",
            after={"source": source, "added": report.added, "changed": report.changed, "absent": report.absent, "returned": report.returned},
        )
    return report


async def absent_after_sync(session: AsyncSession, *, catalogue: "Catalogue") -> tuple[int, int]:
    """How many of the features present now a sync of `catalogue` would mark absent, out of how many."""
    present = set((await session.scalars(select(Feature.key).where(Feature.is_present.is_(True)))).all())
    return len(present - {spec.key for spec in catalogue.features}), len(present)


async def list_features(session: AsyncSession, *, category: str | None = None) -> list[Feature]:
    """The stored catalogue, by category then key."""
    query = select(Feature).order_by(Feature.category, Feature.key)
    if category:
        query = query.where(Feature.category == category)
    return list((await session.scalars(query)).all())


def env_example_path(path: str | None, env_example_setting: str | None, *, fallback: str | None = None) -> str:
    """The `.env.example` to read: the argument, else ENV_EXAMPLE_PATH, else ./.env.example.

    When neither is given and ./.env.example does not exist, `fallback` (if any) is used instead.
    """
    chosen = path or env_example_setting or ".env.example"
    if fallback and not (path or env_example_setting) and not Path(chosen).is_file():
        return fallback
    return chosen


async def get_feature(session: AsyncSession, key: str) -> Feature:
    """The catalogue feature `key`, or NotFound with a suggestion."""
    feature = await session.get(Feature, key.strip().lower())
    if feature is None:
        keys = list((await session.scalars(select(Feature.key))).all())
        hint = suggest(key.lower(), keys) or ("" if keys else " (the catalogue is empty: run `tenantctl flags sync`)")
        raise NotFound(f"no feature {key!r}{hint}")
    return feature


def _validate_config(feature: Feature, config: dict[str, Any]) -> dict[str, Any]:
    """Check a config override against the feature's template: known keys, none secret, each of its default's type."""
    if not isinstance(config, dict):
        raise Invalid("a config override must be a JSON object")
    unknown = sorted(set(config) - set(feature.config_keys))
    if unknown:
        allowed = ", ".join(feature.config_keys) or "none"
        raise Invalid(f"{feature.key} has no config key(s) {', '.join(unknown)}; allowed: {allowed}")
    secret = sorted(set(config) & set(feature.secret_keys))
    if secret:
        raise Invalid(f"{', '.join(secret)} is secret: each tenant sets its own, it is never granted")
    for key, value in config.items():
        default = feature.default_config.get(key)
        if default is not None and value is not None and not _same_type(value, default):
            raise Invalid(f"{feature.key}: {key} takes {_TYPE_NAMES[_type_of(default)]} (like its default {default!r}), not {value!r}")
    return config


_TYPE_NAMES = {bool: "true/false", int: "a whole number", float: "a number", list: "a list", dict: "a JSON object", str: "text"}


def _type_of(value: Any) -> type | None:
    """The template type of a value, as `coerce_value` types defaults: bool, int, float, list, dict, str (else None)."""
    return next((t for t in _TYPE_NAMES if isinstance(value, t)), None)


def _same_type(value: Any, default: Any) -> bool:
    """Whether an override value fits its template default's type (a whole number fits a float)."""
    wanted, got = _type_of(default), _type_of(value)
    return got is wanted or (wanted is float and got is int)


def _validate_mode_value(feature: Feature, value: str | None) -> str | None:
    """A mode feature's value must be one of its allowed values; switches take none."""
    if value is None:
        return None
    if feature.kind != "mode":
        raise Invalid(f"{feature.key} is a switch: it takes no --value")
    if feature.allowed_values and value not in feature.allowed_values:
        raise Invalid(f"{feature.key} takes one of {', '.join(feature.allowed_values)}, not {value!r}")
    return value


async def validated_layer(session: AsyncSession, *, feature: str, enabled: bool | None, value: str | None,
                          config: dict[str, Any] | None) -> tuple[Feature, Layer]:
    """The catalogue feature and the layer a plan grant or an override puts on it, checked: never on a master-only
    feature (clearing aside), a mode value allowed (it decides on or off), config keys in the template, never
    secret, each of its default's type."""
    feature_row = await get_feature(session, feature)
    if feature_row.master_only and (enabled is not None or value is not None or config):
        raise Invalid(f"{feature_row.key} is {master_only_reason(feature_row.env_key) or 'master-only'}; no plan or override gives it to a tenant")
    value = _validate_mode_value(feature_row, value)
    if value is not None:
        enabled = mode_is_on(value)
    return feature_row, Layer(enabled, value, _validate_config(feature_row, config or {}))
