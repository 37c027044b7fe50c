"""Classification, categories and config templates, on a hand-written catalogue.env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantctl.core.errors import Invalid, NotFound
from tenantctl.flags.catalogue import (
    FEATURE_CATEGORIES,
    FEATURE_FLAG_PATTERNS,
    coerce_value,
    extract_catalogue,
    extract_feature_flags_from_env,
    get_feature_config_template,
    is_feature_enabled_value,
)
from tenantctl.flags.envfile import parse_env_text

CATALOGUE_ENV = Path(__file__).parent / "data" / "catalogue.env"


@pytest.fixture(scope="module")
def catalogue():
    return extract_feature_flags_from_env(CATALOGUE_ENV)


def test_constants_follow_the_design():
    assert len(FEATURE_FLAG_PATTERNS) == 22  # the design's 20 plus C2C_ENABLED and ENABLE_AUTOPAY
    assert FEATURE_FLAG_PATTERNS["C2C_ENABLED"] == FEATURE_FLAG_PATTERNS["CARD_TO_CARD_ENABLED"] == "card_to_card"
    assert FEATURE_FLAG_PATTERNS["ENABLE_AUTOPAY"] == FEATURE_FLAG_PATTERNS["AUTOPAY_ENABLED"] == "auto_renewal"
    assert list(FEATURE_CATEGORIES) == [
        "payment_gateways", "payment_methods", "subscription_features", "marketing", "support", "integrations",
        "interface", "notifications", "operations", "other",
    ]
    categorised = {key for keys in FEATURE_CATEGORIES.values() for key in keys}
    assert set(FEATURE_FLAG_PATTERNS.values()) <= categorised


def test_feature_list(catalogue):
    assert [f.key for f in catalogue.features if f.master_only] == ["maintenance"]
    assert [(f.key, f.kind, f.category) for f in catalogue.features] == [
        ("support_tickets", "mode", "support"),
        ("server_status", "mode", "integrations"),
        ("turbo", "mode", "other"),
        ("grace", "mode", "subscription_features"),  # CATEGORY_RULES: the key says grace
        ("maintenance", "switch", "operations"),  # master-only: OPERATIONS_SWITCHES
        ("logo", "switch", "interface"),  # the key says logo
        ("referral_program", "switch", "marketing"),
        ("trial_subscription", "switch", "subscription_features"),
        ("auto_renewal", "switch", "subscription_features"),
        ("polls", "switch", "marketing"),
        ("deep_links", "switch", "marketing"),  # the key says deep links
        ("yookassa", "switch", "payment_gateways"),
        ("card_to_card", "switch", "payment_methods"),
        ("freekassa", "switch", "payment_gateways"),
        ("payment_check", "switch", "other"),  # payments section, but no credential: not a gateway
        ("wata", "switch", "payment_gateways"),  # section named by the provider; top-up limits + token
        ("webhook_hooks", "switch", "notifications"),  # a secret, no payments section: its section decides
        ("notify", "switch", "notifications"),
        ("cabinet", "switch", "notifications"),  # the section (NOTIFICATIONS) comes before the key
    ]


def test_modes(catalogue):
    support = catalogue.get("support_tickets")
    assert (support.env_key, support.value, support.enabled) == ("SUPPORT_SYSTEM_MODE", "contact", True)
    assert support.allowed_values == ("tickets", "contact", "both")
    status = catalogue.get("server_status")
    assert status.allowed_values == ("disabled", "external_link", "external_link_miniapp", "xray")
    assert (status.value, status.enabled) == ("xray", True)
    turbo = catalogue.get("turbo")  # an enum mode that lists an off value
    assert (turbo.allowed_values, turbo.enabled) == (("off", "fast", "slow"), True)
    grace = catalogue.get("grace")  # a boolean value, but the comment lists more values
    assert (grace.kind, grace.allowed_values, grace.enabled) == ("mode", ("false", "observe", "true"), False)
    assert grace.config == {"GRACE_HOURS": 72}


def test_enum_modes_without_an_off_value_are_configuration(catalogue):
    env_keys = {f.env_key for f in catalogue.features}
    assert {"SALES_MODE", "USER_DELETE_MODE", "BOT_RUN_MODE", "DATABASE_MODE"}.isdisjoint(env_keys)


def test_boolean_mode_is_a_switch(catalogue):
    maintenance = catalogue.get("MAINTENANCE_MODE")
    assert (maintenance.key, maintenance.kind, maintenance.enabled) == ("maintenance", "switch", True)
    assert maintenance.config == {"MAINTENANCE_MESSAGE": "Back soon, promise"}
    logo = catalogue.get("logo")  # ENABLE_ prefix and _MODE suffix both dropped
    assert (logo.env_key, logo.config) == ("ENABLE_LOGO_MODE", {"LOGO_FILE": "logo.png"})


def test_sub_switches_belong_to_their_parent(catalogue):
    yookassa = catalogue.get("yookassa")
    assert yookassa.config == {  # YOOKASSA_SHOP_ID is master-only: the id half beside YOOKASSA_SECRET_KEY
        "YOOKASSA_SECRET_KEY": None,  # secrets never carry the file's value
        "YOOKASSA_SBP_ENABLED": False,
        "YOOKASSA_RECURRENT_ENABLED": True,
        "YOOKASSA_VAT_CODE": 1,
    }
    assert yookassa.secret_keys == ("YOOKASSA_SECRET_KEY",)
    assert catalogue.get("freekassa").config["FREEKASSA_SBP_ENABLED"] is False
    keys = {f.key for f in catalogue.features}
    assert {"yookassa_sbp", "yookassa_recurrent", "freekassa_sbp", "referral_withdrawal", "default_autopay"}.isdisjoint(keys)


def test_prefix_overrides(catalogue):
    assert catalogue.get("referral_program").config == {
        "REFERRAL_BONUS_KOPEKS": 10000,
        "REFERRAL_WITHDRAWAL_ENABLED": False,
        "REFERRAL_WITHDRAWAL_MIN_AMOUNT_KOPEKS": 50000,
    }
    assert catalogue.get("trial_subscription").config == {"TRIAL_DURATION_DAYS": 3}
    assert catalogue.get("auto_renewal").config == {
        "AUTOPAY_WARNING_DAYS": [3, 1],
        "DEFAULT_AUTOPAY_ENABLED": True,
        "DEFAULT_AUTOPAY_DAYS_BEFORE": 3,
    }
    assert catalogue.get("support_tickets").config == {"SUPPORT_USERNAME": "@help", "SUPPORT_MENU_ENABLED": True}


def test_aliases(catalogue):
    card = catalogue.get("card_to_card")
    assert (card.env_key, card.env_aliases, card.enabled) == ("C2C_ENABLED", ("CARD_TO_CARD_ENABLED",), True)
    assert card.config == {}  # C2C_CARDS, the master's own cards, is master-only
    autopay = catalogue.get("auto_renewal")
    assert (autopay.env_key, autopay.env_aliases) == ("ENABLE_AUTOPAY", ("AUTOPAY_ENABLED",))


def test_discovered_keys_are_derived(catalogue):
    assert catalogue.get("FREEKASSA_ENABLED").key == "freekassa"
    assert catalogue.get("ENABLE_DEEP_LINKS").key == "deep_links"
    assert catalogue.get("deep_links").config == {"DEEP_LINKS_TTL": 60}


def test_switch_values(catalogue):
    assert catalogue.get("referral_program").enabled is True  # "yes"
    assert catalogue.get("polls").enabled is False  # "maybe"


def test_master_only_and_secrets(catalogue):
    assert catalogue.master_only == [
        "BOT_TOKEN", "ADMIN_IDS", "DATABASE_URL", "POSTGRES_PASSWORD", "DATABASE_MODE", "REMNAWAVE_API_KEY", "YOOKASSA_SHOP_ID", "C2C_CARDS",
    ]
    in_configs = {key for f in catalogue.features for key in f.config}
    assert in_configs.isdisjoint(catalogue.master_only)
    cabinet = catalogue.get("cabinet")
    assert cabinet.config == {"CABINET_ACCESS_TOKEN_EXPIRE_MINUTES": 15, "CABINET_JWT_SECRET": None}
    assert cabinet.secret_keys == ("CABINET_JWT_SECRET",)


def test_catalogue_warnings(catalogue):
    assert [w.as_dict() for w in catalogue.warnings] == [
        {"line": 53, "message": "CONTESTS_ENABLED='maybe' is not a boolean; taken as off"},
        {"line": 66, "message": "CARD_TO_CARD_ENABLED maps to 'card_to_card', already taken by C2C_ENABLED"},
        {"line": 87, "message": "ENABLE_NOTIFY maps to 'notify', already taken by NOTIFY_ENABLED"},
    ]


def test_mode_value_outside_allowed_values_warns():
    catalogue = extract_catalogue(parse_env_text("SERVER_STATUS_MODE=sometimes\n"))
    assert catalogue.get("server_status").enabled is True
    assert catalogue.warnings[0].message == (
        "SERVER_STATUS_MODE='sometimes' is not one of disabled, external_link, external_link_miniapp, xray"
    )


def test_get_suggests_a_close_key(catalogue):
    with pytest.raises(NotFound, match=r"no feature 'yokassa' in the catalogue \(did you mean yookassa\?\)"):
        catalogue.get("yokassa")
    with pytest.raises(NotFound, match="catalogue$"):
        catalogue.get("zzzzzz")


def test_config_template_is_a_copy(catalogue):
    template = get_feature_config_template(catalogue, "wata")
    assert template == {"WATA_ACCESS_TOKEN": None, "WATA_MIN_AMOUNT_KOPEKS": 10000, "WATA_PRODUCTS": {"basic": 100}, "WATA_LANGS": ["ru", "en"]}
    template["WATA_PRODUCTS"]["basic"] = 0
    assert catalogue.get("wata").config["WATA_PRODUCTS"] == {"basic": 100}
    with pytest.raises(NotFound):
        get_feature_config_template(catalogue, "nope")


def test_as_dict_is_json(catalogue):
    data = json.loads(json.dumps(catalogue.as_dict(), allow_nan=False))
    assert set(data) == {"features", "master_only", "warnings"}
    wata = next(f for f in data["features"] if f["key"] == "wata")
    assert wata == {
        "key": "wata",
        "env_key": "WATA_ENABLED",
        "env_aliases": [],
        "category": "payment_gateways",
        "kind": "switch",
        "enabled": False,
        "value": "false",
        "allowed_values": [],
        "config": {"WATA_ACCESS_TOKEN": None, "WATA_MIN_AMOUNT_KOPEKS": 10000, "WATA_PRODUCTS": {"basic": 100}, "WATA_LANGS": ["ru", "en"]},
        "secret_keys": ["WATA_ACCESS_TOKEN"],
        "description": "",
        "line": 76,
        "master_only": False,
    }


def test_missing_file_is_invalid(tmp_path):
    with pytest.raises(Invalid):
        extract_feature_flags_from_env(tmp_path / "nope.env")


@pytest.mark.parametrize(
    ("raw", "typed"),
    [
        (None, None),
        ("", None),
        ("true", True),
        ("FALSE", False),
        ("15", 15),
        ("-1001234567890", -1001234567890),
        ("007", "007"),
        ("5.0", 5.0),
        ("1.0.0", "1.0.0"),
        ("1" * 30, "1" * 30),
        ("1" * 5000, "1" * 5000),
        ("[" + "1" * 5000 + "]", "[" + "1" * 5000 + "]"),
        ("30,90,180", [30, 90, 180]),
        ("ru,en,ua", ["ru", "en", "ua"]),
        ("60:10,90:20", ["60:10", "90:20"]),
        ("%d.%m.%Y, %H:%M", "%d.%m.%Y, %H:%M"),
        ("[]", []),
        ('{"a":1}', {"a": 1}),
        ('[{"x":true}]', [{"x": True}]),
        ("[NaN]", "[NaN]"),
        ("[1e999]", "[1e999]"),
        ("{service_name} - {description}", "{service_name} - {description}"),
        ("10:00", "10:00"),
        ("Пополнение баланса", "Пополнение баланса"),
    ],
)
def test_coerce_value(raw, typed):
    assert coerce_value(raw) == typed
    assert type(coerce_value(raw)) is type(typed)


@pytest.mark.parametrize(
    ("kind", "value", "enabled"),
    [
        ("switch", "true", True), ("switch", "TRUE", True), ("switch", "1", True), ("switch", "yes", True), ("switch", "on", True),
        ("switch", "false", False), ("switch", "", False), ("switch", None, False), ("switch", "maybe", False),
        ("mode", "both", True), ("mode", "xray", True), ("mode", "disabled", False), ("mode", "None", False),
        ("mode", "off", False), ("mode", "false", False), ("mode", "", False), ("mode", None, False),
    ],
)
def test_is_feature_enabled_value(kind, value, enabled):
    assert is_feature_enabled_value(kind, value) is enabled


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=40), st.from_regex(r"[-+]?[0-9]{1,400}(\.[0-9]{1,400})?", fullmatch=True)))
def test_property_coerce_value_is_json(raw):
    json.dumps(coerce_value(raw), allow_nan=False)


def test_features_are_hashable(catalogue):
    assert len({f for f in catalogue.features}) == len(catalogue.features)
