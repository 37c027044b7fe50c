"""The two real third-party .env.example files, extracted with exact, independently counted numbers.

Every expected number was counted by hand with the shell one-liner next to it, run in the
fixtures directory (F = the fixture file), not with the code under test. Where a number needs a
judgement (sub-switches, gateways) the comment names the keys.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from dotenv import dotenv_values

from tenantctl.flags.catalogue import (
    FEATURE_FLAG_PATTERNS,
    extract_feature_flags_from_env,
)
from tenantctl.flags.envfile import parse_env_file

BEDOLAGA = "bedolaga-4.1.0.env.example"
FORK = "remnabot-fork.env.example"


def fixtures_dir() -> Path | None:
    """`$TENANTCTL_FIXTURES_DIR` (the env dir or its parent), else `shared/fixtures/env` in an ancestor."""
    configured = os.environ.get("TENANTCTL_FIXTURES_DIR")
    candidates = [Path(configured) / "env", Path(configured)] if configured else []
    candidates += [parent / "shared" / "fixtures" / "env" for parent in Path(__file__).resolve().parents]
    return next((path for path in candidates if (path / BEDOLAGA).is_file()), None)


@pytest.fixture(scope="module")
def env_dir() -> Path:
    found = fixtures_dir()
    if found is None:
        pytest.skip("shared .env fixtures not found: set TENANTCTL_FIXTURES_DIR or check out shared/fixtures/env")
    return found


# name -> expected numbers
EXPECTED = {
    BEDOLAGA: {
        "lines": 1261,  # wc -l < F
        # grep -oE '^[A-Za-z_][A-Za-z0-9_]*=' F | sort -u | wc -l
        "entries": 540,
        # comm -23 <(grep -oE '^#+\s*[A-Z][A-Z0-9_]*=' F | sed -E 's/^#+\s*//' | sort -u) \
        #          <(grep -oE '^[A-Za-z_][A-Za-z0-9_]*=' F | sort -u) | wc -l
        "optional": 35,
        # grep -cE '^# *(={2,}|──) *[^=─ ].*(={2,}|──) *$' F  -> 57, plus the rule/name/rule block at lines 1-3
        "sections": 58,
        # Switch-shaped keys: grep -oE '^([A-Z0-9_]+_ENABLED|ENABLE_[A-Z0-9_]+|[A-Z0-9_]+_MODE=(true|false))' F
        #   | sed 's/=.*//' | sort -u | wc -l  -> 80.
        # Minus 21 sub-switches (a key under another switch's prefix, REFERRAL_/TRIAL_/AUTOPAY_/
        # DEFAULT_AUTOPAY_/SUPPORT_ included; the loop over that list found 22, less the design keys
        # REFERRAL_PROGRAM_ENABLED and TRIAL_PAYMENT_ENABLED, plus DEFAULT_AUTOPAY_ENABLED):
        #   CABINET_EMAIL_{AUTH,VERIFICATION}, CLOUDPAYMENTS_TEST_MODE, FREEKASSA_{CARD,SBP},
        #   GRACE_ACCESS_{DAILY,FREE,TRIAL}, MAINTENANCE_MONITORING, PLATEGA_RECURRENT,
        #   REFERRAL_{CONTESTS,NOTIFICATIONS,WITHDRAWAL}, REFERRAL_WITHDRAWAL_TEST_MODE,
        #   SUPPORT_{MENU,TICKET_SLA,TOPUP}, WEB_API_DOCS, YOOKASSA_{RECURRENT,SBP}, DEFAULT_AUTOPAY
        # -> 59, of which GRACE_ACCESS_MODE=false is a mode (its comment lists observe/drain).
        # Plus the enum modes SUPPORT_SYSTEM_MODE and SERVER_STATUS_MODE
        #   (grep -E '^[A-Z0-9_]+_MODE=' F: every other enum mode has no off value).
        "features": 61,
        "kinds": {"switch": 58, "mode": 3},
        "categories": {
            # 8: grep -cE '^(YOOKASSA|CRYPTOBOT|PAL24|MULENPAY|PLATEGA|HELEKET|TRIBUTE|TELEGRAM_STARS)_ENABLED=' F
            # + 9: for p in $(grep -oE '^[A-Z0-9_]+_MIN_AMOUNT_KOPEKS=' F | sed 's/_MIN_AMOUNT_KOPEKS=//');
            #      do grep -qE "^${p}_ENABLED=" F && echo $p; done   (minus design/sub-switch ones):
            #      FREEKASSA KASSA_AI RIOPAY SEVERPAY PAYPEAR ROLLYPAY AURAPAY WATA CLOUDPAYMENTS
            # + 1: APPLE_IAP_ENABLED in "APPLE IN-APP PURCHASE" with APPLE_IAP_PRIVATE_KEY
            "payment_gateways": 18,
            # grep -cE '^(TRIAL_PAYMENT_ENABLED|ENABLE_AUTOPAY|AUTOPAY_ENABLED|SIMPLE_SUBSCRIPTION_ENABLED)=' F
            # 14 master-only: grep -cE '^(REMNAWAVE|ADMIN|BACKUP|LOG_ROTATION|NALOGO)(_[A-Z0-9_]+)?_ENABLED=' F -> 8
            #   + grep -cE '^(MAINTENANCE_MODE|TRAFFIC_FAST_CHECK_ENABLED|TRAFFIC_DAILY_CHECK_ENABLED|
            #     BLACKLIST_CHECK_ENABLED|VERSION_CHECK_ENABLED|WEB_API_ENABLED)=' F -> 6 (OPERATIONS_SWITCHES)
            "operations": 14,
            # The other 29 (61 - 18 - 14) by section name, A = awk '/^# *={2,} *[^= ].* *={2,} *$/ {s=$0;
            #   gsub(/^# *=+ *| *=+ *$/,"",s)} /^([A-Z0-9_]+_ENABLED|ENABLE_[A-Z0-9_]+|[A-Z0-9_]+_MODE)=/
            #   {split($0,a,"="); print s " | " a[1]}' F, less the sub-switches listed above, then the
            #   CATEGORY_RULES patterns in order with grep -iE, each removing what it took:
            # 3 design (TRIAL_PAYMENT, ENABLE_AUTOPAY, SIMPLE_SUBSCRIPTION) + 7 'подписк|продаж|тариф|...':
            #   TARIFF_SWITCH_{UPGRADE,DOWNGRADE}, TRAFFIC_TOPUP, BASE_PROMO_GROUP_PERIOD_DISCOUNTS,
            #   DEVICES_SELECTION, MODEM, AUTO_PURCHASE_AFTER_TOPUP + GRACE_ACCESS_MODE (section GRACE ACCESS)
            "subscription_features": 11,
            # 6 'интерфейс|локализ|language|menu|logo|button': MENU_LAYOUT, MENU_BUTTON_WEBAPP,
            #   CONNECT_BUTTON_HAPP_DOWNLOAD, HAPP_CRYPTOLINK_API_FALLBACK, LANGUAGE_SELECTION, PRICE_ROUNDING
            #   + ENABLE_LOGO_MODE
            "interface": 7,
            "notifications": 3,  # 'уведомл|notif|smtp': ENABLE_NOTIFICATIONS, EMAIL_UNSUBSCRIBE, WEBHOOK_NOTIFY_USER
            "marketing": 3,  # grep -cE '^(REFERRAL_PROGRAM|CONTESTS|CAMPAIGNS)_ENABLED=' F -> 2, + ENABLE_DEEP_LINKS
            "support": 1,  # SUPPORT_SYSTEM_MODE
            # grep -cE '^(MINIAPP_ENABLED|SERVER_STATUS_MODE|MONITORING_ENABLED)=' F -> 1, + CABINET, BAN_SYSTEM
            "integrations": 3,
            "other": 1,  # the rest: PAYMENT_VERIFICATION_AUTO_CHECK_ENABLED (a payments section, no credential)
        },
        # grep -cE "^(<the 22 env keys of FEATURE_FLAG_PATTERNS>)=" F
        "design_features": 15,
        # The families of flags/keys.py, re-derived with grep over the unique active keys, K:
        #   K=$(grep -oE '^[A-Za-z_][A-Za-z0-9_]*=' F | sed 's/=$//' | sort -u)
        #   FAM=$(echo "$K" | grep -E '^(REMNAWAVE|ADMIN|BACKUP|LOG_ROTATION|C2C_ADMIN|NALOGO|SMTP|DATABASE|POSTGRES|SQLITE|REDIS|TENANTCTL)_|_(CHAT|TOPIC)_ID$|^(C2C_CARDS|BOT_TOKEN|MASTER_BOT_TOKEN|MASTER_ADMIN_IDS|TELEGRAM_API_SERVER|ENV_EXAMPLE_PATH|STARS_RATE_KOPEKS|GRACE_PERIOD_DAYS|RENEWAL_NOTICE_DAYS)$')
        #   -> 75; plus the credential halves, 22: keys outside FAM matching
        #   '^[A-Z0-9]+_([A-Z0-9_]+_)?(USER|USERNAME|LOGIN|EMAIL|ID|MID)$' whose first word starts a
        #   secret-looking key (grep -E '(^|_)(TOKEN|PASSWORD|API_KEY)$|(^|_)(SECRETS?|PRIVATE)(_|$)'):
        #   APPLE_IAP_{APP_APPLE,BUNDLE,ISSUER,KEY}_ID, {AURAPAY,FREEKASSA,KASSA_AI,MULENPAY,PAL24,PAYPEAR,YOOKASSA}_SHOP_ID,
        #   {HELEKET,PLATEGA}_MERCHANT_ID, {FREEKASSA,KASSA_AI}_PAYMENT_SYSTEM_ID, CLOUDPAYMENTS_{PUBLIC_ID,REQUIRE_EMAIL},
        #   SERVER_STATUS_METRICS_USERNAME, SEVERPAY_MID, TEST_EMAIL, WATA_TERMINAL_PUBLIC_ID, YOOKASSA_DEFAULT_RECEIPT_EMAIL.
        #   (Was 19 when only BOT_TOKEN, ADMIN_IDS, REDIS_URL, five REMNAWAVE_ names and DATABASE_/POSTGRES_/SQLITE_ counted.)
        "master_only": 97,
        "warnings": [(1261, "duplicate key MINIAPP_STATIC_PATH on lines 1041 and 1261; the last one wins")],  # grep -n '^MINIAPP_STATIC_PATH=' F
    },
    FORK: {
        "lines": 1148,  # wc -l < F
        "entries": 520,  # grep -oE '^[A-Za-z_][A-Za-z0-9_]*=' F | sort -u | wc -l
        "optional": 22,  # the comm one-liner above
        "sections": 56,  # grep -cE ... -> 55, plus the rule/name/rule block
        # Switch-shaped: 73 (the grep above), no GRACE_ACCESS_*; the loop found 18 sub-switch
        # candidates, less the 2 design keys, plus DEFAULT_AUTOPAY_ENABLED -> 17; 73 - 17 = 56 switches,
        # plus SUPPORT_SYSTEM_MODE and SERVER_STATUS_MODE.
        "features": 58,
        "kinds": {"switch": 56, "mode": 2},
        "categories": {
            "payment_gateways": 18,  # same 8 + 9 + APPLE_IAP as above
            "payment_methods": 1,  # grep -cE '^(C2C|CARD_TO_CARD|ZARINPAL)_ENABLED=' F
            "operations": 14,  # the same two greps: 8 + 6
            # The same awk and patterns over the other 25 (58 - 18 - 1 - 14):
            "subscription_features": 10,  # 3 design + the same 7 (no GRACE_ACCESS_MODE here)
            "interface": 5,  # 4 (no MENU_BUTTON_WEBAPP, HAPP_CRYPTOLINK_API_FALLBACK) + ENABLE_LOGO_MODE
            "notifications": 2,  # ENABLE_NOTIFICATIONS, WEBHOOK_NOTIFY_USER (no EMAIL_UNSUBSCRIBE)
            "marketing": 3,
            "support": 1,
            "integrations": 3,
            "other": 1,  # PAYMENT_VERIFICATION_AUTO_CHECK_ENABLED
        },
        "design_features": 16,  # the 22-key grep above
        "master_only": 96,  # the same two greps: 74 by family + the same 22 credential halves (was 16)
        "warnings": [(1148, "duplicate key MINIAPP_STATIC_PATH on lines 946 and 1148; the last one wins")],
    },
}


@pytest.mark.parametrize("name", [BEDOLAGA, FORK])
def test_values_equal_dotenv(env_dir, name):
    parsed = parse_env_file(env_dir / name)
    expected = dotenv_values(env_dir / name, interpolate=False)
    assert parsed.values() == expected
    assert list(parsed.values()) == list(expected)
    lines = (env_dir / name).read_text(encoding="utf-8").splitlines()
    assert len(lines) == EXPECTED[name]["lines"]
    for entry in parsed.entries.values():
        assert lines[entry.line - 1].startswith(f"{entry.key}=")
    for entry in parsed.optional.values():
        assert lines[entry.line - 1].lstrip("# ").startswith(f"{entry.key}=")


@pytest.mark.parametrize("name", [BEDOLAGA, FORK])
def test_counts(env_dir, name):
    expected = EXPECTED[name]
    parsed = parse_env_file(env_dir / name)
    catalogue = extract_feature_flags_from_env(env_dir / name)
    assert len(parsed.entries) == expected["entries"]
    assert len(parsed.optional) == expected["optional"]
    assert len(parsed.sections) == expected["sections"]
    assert len(catalogue.features) == expected["features"]
    assert Counter(f.kind for f in catalogue.features) == expected["kinds"]
    assert Counter(f.category for f in catalogue.features) == expected["categories"]
    assert len(catalogue.master_only) == expected["master_only"]
    assert [(w.line, w.message) for w in catalogue.warnings] == expected["warnings"]
    present = {FEATURE_FLAG_PATTERNS[k] for k in parsed.entries if k in FEATURE_FLAG_PATTERNS}
    assert len(present) == expected["design_features"]
    assert present <= {f.key for f in catalogue.features}


def test_bedolaga_sample(env_dir):
    catalogue = extract_feature_flags_from_env(env_dir / BEDOLAGA)
    yookassa = catalogue.get("yookassa").as_dict()
    assert {k: yookassa[k] for k in ("env_key", "category", "kind", "enabled", "value", "line")} == {
        "env_key": "YOOKASSA_ENABLED", "category": "payment_gateways", "kind": "switch", "enabled": False, "value": "false", "line": 548,
    }
    assert yookassa["config"]["YOOKASSA_SBP_ENABLED"] is False  # sub-switch
    assert yookassa["config"]["YOOKASSA_MAX_AMOUNT_KOPEKS"] == 1000000
    assert yookassa["secret_keys"] == ["YOOKASSA_SECRET_KEY"]
    support = catalogue.get("support_tickets")
    assert (support.env_key, support.kind, support.value, support.enabled) == ("SUPPORT_SYSTEM_MODE", "mode", "both", True)
    assert support.allowed_values == ("tickets", "contact", "both")
    status = catalogue.get("server_status")
    assert (status.category, status.value, status.enabled) == ("integrations", "disabled", False)
    assert status.allowed_values == ("disabled", "external_link", "external_link_miniapp", "xray")
    grace = catalogue.get("grace_access")
    assert (grace.kind, grace.enabled, grace.allowed_values) == ("mode", False, ("false", "observe", "true", "drain"))
    autopay = catalogue.get("auto_renewal")
    assert (autopay.env_key, autopay.config["AUTOPAY_WARNING_DAYS"], autopay.config["DEFAULT_AUTOPAY_ENABLED"]) == ("ENABLE_AUTOPAY", [3, 1], True)
    assert catalogue.get("referral_program").config["REFERRAL_WITHDRAWAL_ENABLED"] is False
    assert catalogue.get("freekassa").category == "payment_gateways"
    assert catalogue.get("wata").category == "payment_gateways"
    assert catalogue.get("nalogo").category == "operations"
    assert catalogue.get("apple_iap").config["APPLE_IAP_PRODUCTS"] == {
        "com.app.client.topup.100": 10000, "com.app.client.topup.300": 30000, "com.app.client.topup.500": 50000,
    }
    assert catalogue.get("deep_links").env_key == "ENABLE_DEEP_LINKS"
    assert catalogue.get("cryptobot").config["CRYPTOBOT_API_TOKEN"] is None  # the example token is not carried
    assert "BOT_TOKEN" in catalogue.master_only
    assert "card_to_card" not in {f.key for f in catalogue.features}


def test_fork_sample(env_dir):
    catalogue = extract_feature_flags_from_env(env_dir / FORK)
    card = catalogue.get("card_to_card")
    assert (card.env_key, card.env_aliases, card.category, card.enabled) == ("C2C_ENABLED", ("CARD_TO_CARD_ENABLED",), "payment_methods", False)
    assert "C2C_CARDS" in catalogue.master_only and "C2C_CARDS" not in card.config  # the master's own cards
    assert card.config["C2C_DISPLAY_NAME"] == "Card-to-Card 💳"
    assert "grace_access" not in {f.key for f in catalogue.features}
    assert catalogue.get("platega").config.get("PLATEGA_RECURRENT_ENABLED") is None  # not in this fork


# The reviewed master-only features, the same on both files: the five families' own switches
# (ADMIN_*, REMNAWAVE_*, NALOGO_*, BACKUP_*, LOG_ROTATION_*) and flags/keys.py OPERATIONS_SWITCHES.
MASTER_ONLY_FEATURES = {
    "admin_notifications", "admin_reports", "remnawave_auto_sync", "remnawave_webhook", "nalogo",
    "backup_auto", "backup_send", "log_rotation",
    "maintenance", "traffic_fast_check", "traffic_daily_check", "blacklist_check", "version_check", "web_api",
}


@pytest.mark.parametrize("name", [BEDOLAGA, FORK])
def test_master_only_features_and_few_others(env_dir, name):
    catalogue = extract_feature_flags_from_env(env_dir / name)
    assert {f.key for f in catalogue.features if f.master_only} == MASTER_ONLY_FEATURES
    assert all(f.category == "operations" for f in catalogue.features if f.master_only)
    assert sum(f.category == "other" for f in catalogue.features) <= 5
