"""The feature catalogue extracted from a parsed `.env` (pure; no database).

Rules, in order:
- A switch is a key ending in `_ENABLED` or starting with `ENABLE_`, or a `*_MODE` key whose
  value is `true`/`false` when nothing says it takes other values (`MAINTENANCE_MODE=false`).
- A mode is an enum `*_MODE` key that can be turned off or that the design names: it is in
  `KNOWN_MODES` or `FEATURE_FLAG_PATTERNS`, or its allowed values include an off value
  (disabled/none/off/false, e.g. `GRACE_ACCESS_MODE=false` with "false, observe, true, drain").
  Every other enum `*_MODE` key (DATABASE_MODE, SALES_MODE, MAIN_MENU_MODE, BOT_RUN_MODE ...)
  chooses how something works, not whether it is on, so it stays configuration.
  Allowed values are `KNOWN_MODES` plus whatever the comment above the key lists
  (`a, b, c` lists or `name - description` lines).
- The design's mappings (`FEATURE_FLAG_PATTERNS`, with aliases) always win. Any other switch or
  mode is discovered under a key derived from its name: drop `ENABLE_`, `_ENABLED`, `_MODE`
  and lower-case it (`FREEKASSA_ENABLED` -> `freekassa`, `ENABLE_DEEP_LINKS` -> `deep_links`).
- A feature owns the keys that start with its prefix (its name minus the suffix, plus `_`, and
  `CONFIG_PREFIX_OVERRIDES` where prefixes lie). Every other key goes to the feature with the
  longest matching prefix. A discovered switch that falls under another feature's prefix is a
  sub-switch (`YOOKASSA_SBP_ENABLED`, `REFERRAL_WITHDRAWAL_ENABLED`): it is config, not a feature.
- Master-only keys (`flags/keys.py`, by family) never enter a config. A feature whose own key is
  master-only (its family, or `OPERATIONS_SWITCHES`: backups, log rotation, maintenance, the
  Remnawave sync and webhook, NALOGO_ENABLED ...) is a master-only feature: listed, category
  `operations`, but no plan grants it and no override sets it; every tenant has it off.
  Secret-looking keys do enter, listed in `secret_keys`, but with the value None: the catalogue
  never carries a secret from the file.
- Config defaults are typed by `coerce_value`; an empty value is None ("not set"). Only active
  keys count: commented-out `# KEY=value` examples (`ParsedEnv.optional`) are not defaults.
- When two keys map to one feature (an alias twice, `FOO_ENABLED` and `ENABLE_FOO`), the first
  in the file wins and the other is a warning.
- Design features get the design's category, master-only ones `operations`. A discovered feature
  is a payment gateway when it carries a credential and sits in a payments section (the name
  mentions pay/платеж/оплат/касс...) or has top-up limits (`*_MIN_AMOUNT_KOPEKS`, catches sections
  named only by the provider, such as `WATA`). Otherwise the first of `CATEGORY_RULES` whose
  pattern finds its section's name or its env key decides; everything else is `other`.
- `support_contact`: the design lists it, but no key maps to it; contact support is the
  `contact` (or `both`) value of the `support_tickets` mode (SUPPORT_SYSTEM_MODE), so one key
  stays one feature. The name stays in `FEATURE_CATEGORIES` for plans that refer to it.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from tenantctl.core.errors import NotFound
from tenantctl.core.text import suggest
from tenantctl.flags.envfile import EnvEntry, EnvWarning, ParsedEnv, parse_env_file
from tenantctl.flags.keys import OPERATIONS_SWITCHES, is_master_only, is_secret_key, master_only_family

SUPPORT_CONTACT_MODES = frozenset({"contact", "both"})  # support_tickets values that offer a contact

FEATURE_FLAG_PATTERNS: dict[str, str] = {
    # Payment gateways
    "YOOKASSA_ENABLED": "yookassa",
    "CRYPTOBOT_ENABLED": "cryptobot",
    "PAL24_ENABLED": "pal24",
    "MULENPAY_ENABLED": "mulenpay",
    "PLATEGA_ENABLED": "platega",
    "HELEKET_ENABLED": "heleket",
    "TRIBUTE_ENABLED": "tribute",
    "TELEGRAM_STARS_ENABLED": "telegram_stars",
    # Payment methods
    "CARD_TO_CARD_ENABLED": "card_to_card",
    "C2C_ENABLED": "card_to_card",  # alias: the name real bots use
    "ZARINPAL_ENABLED": "zarinpal",
    # Features
    "TRIAL_PAYMENT_ENABLED": "trial_subscription",
    "REFERRAL_PROGRAM_ENABLED": "referral_program",
    "AUTOPAY_ENABLED": "auto_renewal",
    "ENABLE_AUTOPAY": "auto_renewal",  # alias: the name real bots use
    "SIMPLE_SUBSCRIPTION_ENABLED": "simple_purchase",
    "SUPPORT_SYSTEM_MODE": "support_tickets",
    "MINIAPP_ENABLED": "mini_app",
    "SERVER_STATUS_MODE": "server_status",
    "MONITORING_ENABLED": "monitoring",
    "CONTESTS_ENABLED": "polls",
    "CAMPAIGNS_ENABLED": "campaigns",
}

FEATURE_CATEGORIES: dict[str, list[str]] = {
    "payment_gateways": [
        "yookassa", "cryptobot", "pal24", "mulenpay", "platega", "heleket", "tribute", "telegram_stars",
    ],
    "payment_methods": ["card_to_card", "zarinpal"],
    "subscription_features": ["trial_subscription", "auto_renewal", "simple_purchase"],
    "marketing": ["referral_program", "polls", "campaigns"],
    "support": ["support_tickets", "support_contact"],
    "integrations": ["mini_app", "server_status", "monitoring"],
    "interface": [],  # discovered: menus, buttons, logo, languages (CATEGORY_RULES)
    "notifications": [],  # discovered: what the bot tells users, by message or mail (CATEGORY_RULES)
    "operations": [],  # discovered master-only features: the operator's own switches, never a tenant's
    "other": [],  # every discovered feature no rule places
}

# Where a discovered feature goes when it is neither master-only nor a payment gateway: the first
# pattern found in its section's name or its env key (the upstream files' sections are Russian).
CATEGORY_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (category, re.compile(pattern, re.IGNORECASE)) for category, pattern in (
        ("notifications", r"уведомл|notif|smtp"),
        ("subscription_features", r"подписк|продаж|тариф|tariff|докупк|цены|модем|grace|автопокупк"),
        ("interface", r"интерфейс|локализ|language|menu|logo|button"),
        ("integrations", r"integration|интеграц|кабинет|cabinet"),
        ("marketing", r"deep_link|промо|реферал|конкурс"),
    )
)

# Where the natural prefix lies: the feature owns these keys too.
CONFIG_PREFIX_OVERRIDES: dict[str, tuple[str, ...]] = {
    "referral_program": ("REFERRAL_",),
    "trial_subscription": ("TRIAL_",),
    "auto_renewal": ("AUTOPAY_", "DEFAULT_AUTOPAY_"),
    "support_tickets": ("SUPPORT_",),
}

KNOWN_MODES: dict[str, tuple[str, ...]] = {
    "SUPPORT_SYSTEM_MODE": ("tickets", "contact", "both"),
    "SERVER_STATUS_MODE": ("disabled", "external_link", "external_link_miniapp", "xray"),
}

MODE_OFF_VALUES = frozenset({"", "disabled", "none", "off", "false", "0"})  # what switches a mode feature off
TRUE_VALUES = frozenset({"true", "1", "yes", "on"})
FALSE_VALUES = frozenset({"", "false", "0", "no", "off"})
_BOOLEANS = frozenset({"true", "false"})

_PAYMENTS_SECTION = re.compile(r"pay|purchase|платеж|платёж|оплат|касс|kassa", re.IGNORECASE)
_UPPER_KEY = re.compile(r"[A-Z][A-Z0-9_]*")
_SUFFIXES = re.compile(r"^ENABLE_|_ENABLED$|_MODE$")
_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)\.[0-9]+")
_ENUM_LINE = re.compile(r'\s*"?([a-z][a-z0-9_]*)"?\s+[-—=]\s')  # `name - description`
_ENUM_ITEM = re.compile(r'\s*"?([A-Za-z][A-Za-z0-9_]*)"?(?:\s|$)')  # first word of `a (x), b (y)`


@dataclass(frozen=True)
class FeatureSpec:
    key: str
    env_key: str
    env_aliases: tuple[str, ...]
    category: str
    kind: str  # "switch" | "mode"
    enabled: bool
    value: str | None
    allowed_values: tuple[str, ...]
    config: dict[str, Any] = field(hash=False)
    secret_keys: tuple[str, ...]
    description: str
    line: int
    master_only: bool = False

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "env_key": self.env_key,
            "env_aliases": list(self.env_aliases),
            "category": self.category,
            "kind": self.kind,
            "enabled": self.enabled,
            "value": self.value,
            "allowed_values": list(self.allowed_values),
            "config": copy.deepcopy(self.config),
            "secret_keys": list(self.secret_keys),
            "description": self.description,
            "line": self.line,
            "master_only": self.master_only,
        }


@dataclass
class Catalogue:
    features: list[FeatureSpec]
    master_only: list[str]
    warnings: list[EnvWarning] = field(default_factory=list)

    def get(self, key: str) -> FeatureSpec:
        """The feature with this key (or env key); NotFound suggests the closest key."""
        for feature in self.features:
            if key in (feature.key, feature.env_key):
                return feature
        raise NotFound(f"no feature {key!r} in the catalogue{suggest(key, [f.key for f in self.features])}")

    def as_dict(self) -> dict:
        return {
            "features": [f.as_dict() for f in self.features],
            "master_only": list(self.master_only),
            "warnings": [w.as_dict() for w in self.warnings],
        }


@dataclass
class _Draft:
    entry: EnvEntry
    key: str
    kind: str
    allowed: tuple[str, ...]
    config: dict[str, Any] = field(default_factory=dict)


def is_feature_enabled_value(kind: str, value: str | None) -> bool:
    """A mode is on unless its value is an off value; a switch is on when its value is truthy."""
    if kind == "mode":
        return mode_is_on(value)
    return (value or "").strip().lower() in TRUE_VALUES


def mode_is_on(value: str | None) -> bool:
    """A mode feature is on unless its value is one of MODE_OFF_VALUES (or missing)."""
    return value is not None and value.strip().lower() not in MODE_OFF_VALUES


def mode_off_value(allowed_values: Iterable[str]) -> str:
    """What a disabled mode shows: its first listed off value (`disabled`), else "off"."""
    return next((v for v in allowed_values if not mode_is_on(v)), "off")


def master_only_reason(env_key: str) -> str | None:
    """Why a feature with this env key is master-only (its key's family or an operations switch), or None."""
    family = master_only_family(env_key)
    if family is not None:
        return family.reason
    return "master-only: an operations switch (the operator runs it for the platform)" if env_key in OPERATIONS_SWITCHES else None


def coerce_value(raw: str | None) -> Any:
    """A typed default: None for empty, bool, int, float, JSON object/array, comma list, else str.

    A comma list is a value with commas and no whitespace (`ru,en` or `30,90,180`); its items
    are typed too. Ints outside 64 bits, non-finite floats and invalid JSON stay strings.
    """
    if raw is None or raw == "":
        return None
    if raw[0] in "[{":
        try:
            return json.loads(raw, parse_constant=_reject, parse_float=_finite_float)
        except (ValueError, RecursionError):
            return raw
    if "," in raw and not any(char.isspace() for char in raw):
        return [_scalar(item) for item in raw.split(",")]
    return _scalar(raw)


def extract_catalogue(parsed: ParsedEnv) -> Catalogue:
    """Classify a parsed `.env` into features with categories and config templates."""
    warnings = list(parsed.warnings)
    entries = list(parsed.entries.values())
    master_only = [key for key in parsed.entries if is_master_only(key, parsed.entries)]
    candidates = [(e, *kind) for e in entries if (kind := _classify(e)) is not None]
    design = [c for c in candidates if c[0].key in FEATURE_FLAG_PATTERNS]
    discovered = sorted(
        (c for c in candidates if c[0].key not in FEATURE_FLAG_PATTERNS),
        key=lambda c: (len(_stem(c[0].key)), c[0].line),
    )
    drafts: dict[str, _Draft] = {}
    owners: dict[str, _Draft] = {}  # prefix -> the feature that owns it
    for entry, kind, allowed in design + discovered:
        key = FEATURE_FLAG_PATTERNS.get(entry.key) or _stem(entry.key).lower()
        if entry.key not in FEATURE_FLAG_PATTERNS and _owner(entry.key, owners):
            continue  # a sub-switch: config of its parent
        if key in drafts:
            warnings.append(EnvWarning(entry.line, f"{entry.key} maps to {key!r}, already taken by {drafts[key].entry.key}"))
            continue
        drafts[key] = _Draft(entry, key, kind, allowed)
        for prefix in (_stem(entry.key) + "_",) + CONFIG_PREFIX_OVERRIDES.get(key, ()):
            owners.setdefault(prefix, drafts[key])
    feature_env_keys = {d.entry.key for d in drafts.values()}
    for entry in entries:
        owner = _owner(entry.key, owners)
        if owner is not None and entry.key not in feature_env_keys and entry.key not in master_only:
            owner.config[entry.key] = None if is_secret_key(entry.key) else coerce_value(entry.value)
    features = [_spec(d, warnings) for d in sorted(drafts.values(), key=lambda d: d.entry.line)]
    return Catalogue(features=features, master_only=master_only, warnings=sorted(warnings, key=lambda w: w.line))


def extract_feature_flags_from_env(path: str | os.PathLike) -> Catalogue:
    """Parse a `.env` file and extract its catalogue (`Invalid` for an unreadable file)."""
    return extract_catalogue(parse_env_file(path))


def get_feature_config_template(catalogue: Catalogue, feature_key: str) -> dict[str, Any]:
    """A fresh copy of a feature's default config (secrets as None); NotFound if unknown."""
    return copy.deepcopy(catalogue.get(feature_key).config)


def _reject(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} does not fit a float")
    return number


def _scalar(raw: str) -> Any:
    if raw.lower() in _BOOLEANS:
        return raw.lower() == "true"
    if _INT.fullmatch(raw) and len(raw) <= 20 and -(2**63) <= int(raw) < 2**63:
        return int(raw)
    if _FLOAT.fullmatch(raw) and math.isfinite(float(raw)):
        return float(raw)
    return raw


def _stem(env_key: str) -> str:
    return _SUFFIXES.sub("", env_key)


def _classify(entry: EnvEntry) -> tuple[str, tuple[str, ...]] | None:
    """("switch" | "mode", allowed values) for a feature key, None for plain configuration."""
    key = entry.key
    if not _UPPER_KEY.fullmatch(key) or not _stem(key):
        return None
    if key.endswith("_ENABLED") or key.startswith("ENABLE_"):
        return "switch", ()
    if not key.endswith("_MODE"):
        return None
    allowed = tuple(dict.fromkeys(KNOWN_MODES.get(key, ()) + _comment_values(entry.comment)))
    value = (entry.value or "").lower()
    if value in _BOOLEANS and set(allowed) <= _BOOLEANS:
        return "switch", ()
    if key in KNOWN_MODES or key in FEATURE_FLAG_PATTERNS or MODE_OFF_VALUES & set(allowed):
        return "mode", allowed
    return None


def _comment_values(comment: str) -> tuple[str, ...]:
    """Values a comment lists: `Modes: a (x), b, c` / `a = x, b = y` or `name - description` lines."""
    found: list[str] = []
    for line in comment.splitlines():
        items = [_ENUM_ITEM.match(item) for item in line.rsplit(":", 1)[-1].split(",")]
        if len(items) >= 2 and all(items):
            found.extend(match[1] for match in items)
        elif match := _ENUM_LINE.match(line):
            found.append(match[1])
    return tuple(found)


def _owner(key: str, owners: dict[str, _Draft]) -> _Draft | None:
    """The feature (other than the key's own) owning the longest prefix `key` starts with."""
    for end in range(len(key) - 1, 0, -1):
        owner = owners.get(key[: end + 1]) if key[end] == "_" else None
        if owner is not None and owner.entry.key != key:
            return owner
    return None


def _spec(draft: _Draft, warnings: list[EnvWarning]) -> FeatureSpec:
    entry = draft.entry
    value = (entry.value or "").lower()
    if draft.kind == "switch" and value not in TRUE_VALUES | FALSE_VALUES:
        warnings.append(EnvWarning(entry.line, f"{entry.key}={entry.value!r} is not a boolean; taken as off"))
    if draft.kind == "mode" and draft.allowed and value not in {v.lower() for v in draft.allowed}:
        warnings.append(EnvWarning(entry.line, f"{entry.key}={entry.value!r} is not one of {', '.join(draft.allowed)}"))
    secret_keys = tuple(k for k in draft.config if is_secret_key(k))
    return FeatureSpec(
        key=draft.key,
        env_key=entry.key,
        env_aliases=tuple(k for k, v in FEATURE_FLAG_PATTERNS.items() if v == draft.key and k != entry.key),
        category=_category(draft, secret_keys),
        kind=draft.kind,
        enabled=is_feature_enabled_value(draft.kind, entry.value),
        value=entry.value,
        allowed_values=draft.allowed,
        config=draft.config,
        secret_keys=secret_keys,
        description=entry.comment,
        line=entry.line,
        master_only=master_only_reason(entry.key) is not None,
    )


def _category(draft: _Draft, secret_keys: tuple[str, ...]) -> str:
    for category, keys in FEATURE_CATEGORIES.items():
        if draft.key in keys:
            return category
    if master_only_reason(draft.entry.key) is not None:
        return "operations"
    section = draft.entry.section or ""
    top_up_limits = any(k.endswith("_MIN_AMOUNT_KOPEKS") for k in draft.config)
    if secret_keys and (_PAYMENTS_SECTION.search(section) or top_up_limits):
        return "payment_gateways"
    return next((category for category, pattern in CATEGORY_RULES
                 if pattern.search(section) or pattern.search(draft.entry.key)), "other")
