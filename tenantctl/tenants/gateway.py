"""A tenant's payment gateway settings: the config keys of the gateways it has on, set by its admins.

A gateway is a feature of the `payment_gateways` or `payment_methods` category that is effectively on
for the bot (`bot_feature_flags`, what the bots read). Its admins set the gateway's config keys (their
shop's credentials, limits, texts); they never switch a gateway on or off (its plan or the platform
does), never set a master-only key, and see a secret only as set or unset. Values are stored in
`bot_configurations` as the bot's `.env` would hold them, as text (source `tenant`, so a later config
clone keeps them); a secret only encrypted, in `encrypted_value`, as the master's secrets are.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.crypto import SecretBox
from tenantctl.core.errors import Forbidden, Invalid
from tenantctl.core.money import normalize_digits
from tenantctl.core.text import suggest
from tenantctl.flags.catalogue import coerce_value
from tenantctl.flags.keys import is_secret_key, master_only_family
from tenantctl.flags.models import BotFeatureFlag, Feature
from tenantctl.flags.service import get_feature, validated_layer
from tenantctl.tenants.models import BotConfiguration

PAYMENT_CATEGORIES = ("payment_gateways", "payment_methods")
MAX_VALUE_LENGTH = 4096


def env_text(value: Any) -> str | None:
    """A typed config value as a `.env` line holds it: true/false, a comma list, JSON for an object; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(env_text(item) or "" for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _is_secret(feature: Feature, key: str) -> bool:
    return key in feature.secret_keys or is_secret_key(key)


def _setting(feature: Feature, key: str, row: BotConfiguration | None, flag: BotFeatureFlag) -> dict[str, Any]:
    """One config key of a gateway as shown: its value and where it comes from; a secret only as set or unset."""
    secret = _is_secret(feature, key)
    if row is None:  # the tenant has no row: the gateway's effective config (never a secret)
        value, source = env_text(flag.config.get(key)), "feature"
        is_set = not secret and value is not None
    else:
        value, source = row.value, row.source
        is_set = row.encrypted_value is not None if secret else value is not None
    shown: dict[str, Any] = {"key": key, "secret": secret, "set": is_set, "source": source}
    if not secret:
        shown["value"] = value
    return shown


async def gateway_settings(session: AsyncSession, *, bot_id: int) -> list[dict[str, Any]]:
    """Every payment gateway on for the bot with its config keys and current values (a secret only as set/unset)."""
    gateways = (await session.execute(
        select(Feature, BotFeatureFlag).join(BotFeatureFlag, BotFeatureFlag.feature_key == Feature.key)
        .where(BotFeatureFlag.bot_id == bot_id, BotFeatureFlag.enabled.is_(True), Feature.category.in_(PAYMENT_CATEGORIES))
        .order_by(Feature.category, Feature.key)
    )).all()
    keys = {key for feature, _flag in gateways for key in feature.config_keys}
    rows = {row.config_key: row for row in (await session.scalars(
        select(BotConfiguration).where(BotConfiguration.bot_id == bot_id, BotConfiguration.config_key.in_(keys))
    )).all()} if keys else {}
    return [{"feature": feature.key, "category": feature.category,
             "settings": [_setting(feature, key, rows.get(key), flag) for key in feature.config_keys]}
            for feature, flag in gateways]


def _typed(text: str, default: Any) -> tuple[Any, str]:
    """The text typed like its template default (for the check) and as stored: a text key (or one with no default)
    takes any text; other keys read Persian and Arabic-Indic digits, and one item is a one-item list."""
    if default is None or isinstance(default, str):
        return text or None, text
    text = normalize_digits(text)
    value = coerce_value(text)
    one_item = isinstance(default, list) and value is not None and not isinstance(value, (list, dict))
    return ([value] if one_item else value), text


async def _gateway(session: AsyncSession, bot_id: int, feature: str) -> tuple[Feature, BotFeatureFlag]:
    """The payment gateway `feature` and its flag, when it is on for the bot; refused otherwise."""
    feature_row = await get_feature(session, feature)
    if feature_row.category not in PAYMENT_CATEGORIES:
        raise Invalid(f"{feature_row.key} is not a payment gateway")
    flag = await session.get(BotFeatureFlag, (bot_id, feature_row.key))
    if flag is None or not flag.enabled:
        raise Forbidden(f"{feature_row.key} is not on for this bot: its plan or the platform turns a gateway on")
    return feature_row, flag


async def set_gateway_value(session: AsyncSession, *, bot_id: int, feature: str, key: str, value: str, box: SecretBox,
                            actor: str) -> dict[str, Any]:
    """Set one config key of a gateway that is on for the bot (empty text unsets it); a secret is stored encrypted only."""
    feature_row, flag = await _gateway(session, bot_id, feature)
    key = key.strip().upper()
    if key in {feature_row.env_key, *feature_row.env_aliases}:
        raise Forbidden(f"{key} switches {feature_row.key} on or off: only the platform does that")
    if family := master_only_family(key, feature_row.config_keys):
        raise Forbidden(f"{key} is {family.reason}, never a tenant's")
    if key not in feature_row.config_keys:
        raise Invalid(f"{feature_row.key} has no setting {key}{suggest(key, feature_row.config_keys)}")
    text = value.strip()
    if len(text) > MAX_VALUE_LENGTH:
        raise Invalid(f"{key} is too long, at most {MAX_VALUE_LENGTH} characters")
    secret = _is_secret(feature_row, key)
    if not secret:
        typed, text = _typed(text, feature_row.default_config.get(key))
        await validated_layer(session, feature=feature_row.key, enabled=None, value=None, config={key: typed})
    row = await session.get(BotConfiguration, (bot_id, key))
    before = None if row is None else _setting(feature_row, key, row, flag)
    if row is None:
        row = BotConfiguration(bot_id=bot_id, config_key=key)
        session.add(row)
    if secret:
        row.value, row.encrypted_value = None, box.encrypt(text) if text else None
    else:
        row.value, row.encrypted_value = text or None, None
    row.source = "tenant"
    await session.flush()
    after = _setting(feature_row, key, row, flag)
    if secret or after != before:
        await record(session, actor=actor, action="gateway.set", entity=f"bot:{bot_id}/{feature_row.key}/{key}", bot_id=bot_id,
                     before=before, after=after)
    return after
