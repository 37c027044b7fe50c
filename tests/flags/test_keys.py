"""flags/keys.py, the one classification of configuration keys: secret-looking, and master-only by family."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tenantctl
from tenantctl.flags.keys import (
    CREDENTIAL_HALF,
    MASTER_ONLY_FAMILIES,
    exclusion_reason,
    is_master_only,
    is_secret_key,
    is_sensitive_key,
    master_only_family,
)

FAMILIES = {family.name: family for family in MASTER_ONLY_FAMILIES}


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("BOT_TOKEN", True),
        ("TOKEN", True),
        ("CRYPTOBOT_API_TOKEN", True),
        ("WEBHOOK_SECRET_TOKEN", True),
        ("CABINET_JWT_SECRET", True),
        ("YOOKASSA_SECRET_KEY", True),
        ("FREEKASSA_SECRET_WORD_1", True),
        ("SECRET_KEY", True),
        ("APP_SECRETS", True),
        ("SMTP_PASSWORD", True),
        ("HELEKET_API_KEY", True),
        ("APPLE_IAP_PRIVATE_KEY", True),
        ("APPLE_IAP_PRIVATE_KEY_PATH", True),  # `*_PRIVATE*`: a key's location is sensitive too
        ("lower_api_key", True),
        ("CABINET_ACCESS_TOKEN_EXPIRE_MINUTES", False),
        ("CABINET_REFRESH_TOKEN_EXPIRE_DAYS", False),
        ("WEB_API_DEFAULT_TOKEN_NAME", False),
        ("WEB_API_TOKEN_HASH_ALGORITHM", False),
        ("CABINET_PASSWORD_RESET_EXPIRE_HOURS", False),
        ("APPLE_IAP_KEY_ID", False),
        ("WATA_PUBLIC_KEY_CACHE_SECONDS", False),
        ("SECRETARY_NAME", False),
        ("TOKENIZER", False),
        ("API_KEY_ID", False),
    ],
)
def test_is_secret_key(key, secret):
    assert is_secret_key(key) is secret


# family name -> keys in it, keys that only look close (and are in no family)
FAMILY_CASES = {
    "REMNAWAVE_*": (
        ["REMNAWAVE_API_URL", "REMNAWAVE_AUTH_TYPE", "REMNAWAVE_USER_DELETE_MODE", "REMNAWAVE_USER_USERNAME_TEMPLATE",
         "REMNAWAVE_WEBHOOK_ENABLED", "REMNAWAVE_WEBHOOK_SECRET", "REMNAWAVE_CADDY_TOKEN", "remnawave_api_key"],
        ["REMNAWAVE", "MY_REMNAWAVE_URL"],
    ),
    "ADMIN_*": (["ADMIN_IDS", "ADMIN_NOTIFICATIONS_ENABLED", "ADMIN_REPORTS_SEND_TIME"], ["BLACKLIST_IGNORE_ADMINS", "ADMINISTRATOR"]),
    "*_CHAT_ID, *_TOPIC_ID": (
        ["SUSPICIOUS_NOTIFICATIONS_TOPIC_ID", "REFERRAL_WITHDRAWAL_NOTIFICATIONS_TOPIC_ID", "SUPPORT_CHAT_ID"],
        ["CHAT_ID", "SUPPORT_CHAT_IDS", "TRIAL_TARIFF_ID", "CHANNEL_IS_REQUIRED_SUB"],
    ),
    "BACKUP_*": (["BACKUP_SEND_CHAT_ID", "BACKUP_ARCHIVE_PASSWORD", "BACKUP_AUTO_ENABLED", "BACKUP_TIME"], ["BACKUPS"]),
    "LOG_ROTATION_*": (["LOG_ROTATION_CHAT_ID", "LOG_ROTATION_ENABLED", "LOG_ROTATION_KEEP_DAYS"], ["LOG_LEVEL", "LOG_FILE", "LOG_DIR"]),
    "C2C_CARDS, C2C_ADMIN_*": (["C2C_CARDS", "C2C_ADMIN_CHAT_ID"], ["C2C_ENABLED", "C2C_DISPLAY_NAME", "C2C_MIN_AMOUNT_KOPEKS"]),
    "NALOGO_*": (["NALOGO_INN", "NALOGO_ENABLED", "NALOGO_DEVICE_ID", "NALOGO_QUEUE_MAX_ATTEMPTS"], ["NALOGO"]),
    "SMTP_*": (["SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_FROM_EMAIL"], ["EMAIL_DATE_FORMAT", "CABINET_EMAIL_AUTH_ENABLED"]),
    "DATABASE_*, POSTGRES_*, SQLITE_*, REDIS_*": (
        ["DATABASE_URL", "DATABASE_MODE", "DATABASE_POOL_SIZE", "POSTGRES_HOST", "SQLITE_PATH", "REDIS_URL"],
        ["APP_CONFIG_CACHE_TTL", "DATABASE"],
    ),
    "BOT_TOKEN": (["BOT_TOKEN"], ["BOT_RUN_MODE", "BOT_NAME"]),
    "tenantctl's settings": (
        ["TENANTCTL_SECRET_KEY", "TENANTCTL_HOME", "MASTER_BOT_TOKEN", "MASTER_ADMIN_IDS", "STARS_RATE_KOPEKS", "GRACE_PERIOD_DAYS"],
        ["GRACE_ACCESS_DURATION_HOURS", "TELEGRAM_STARS_RATE_RUB"],
    ),
}


def test_every_family_has_a_case_and_its_own_name():
    assert set(FAMILY_CASES) == set(FAMILIES)
    assert CREDENTIAL_HALF.name not in FAMILIES


@pytest.mark.parametrize("name", list(FAMILY_CASES))
def test_each_family_with_members_and_near_misses(name):
    members, strangers = FAMILY_CASES[name]
    for key in members:
        assert master_only_family(key) is FAMILIES[name], key
        assert is_master_only(key) and is_sensitive_key(key)
    for key in strangers:
        assert master_only_family(key) is None, key


@pytest.mark.parametrize(
    ("key", "siblings", "half"),
    [
        ("YOOKASSA_SHOP_ID", ["YOOKASSA_SECRET_KEY"], True),
        ("PLATEGA_MERCHANT_ID", ["PLATEGA_SECRET"], True),
        ("APPLE_IAP_KEY_ID", ["APPLE_IAP_PRIVATE_KEY"], True),
        ("APPLE_IAP_ISSUER_ID", ["APPLE_IAP_PRIVATE_KEY_PATH"], True),
        ("KASSA_AI_SHOP_ID", ["KASSA_AI_API_KEY"], True),
        ("WATA_TERMINAL_PUBLIC_ID", ["WATA_ACCESS_TOKEN"], True),  # the provider is the first word only
        ("SEVERPAY_MID", ["SEVERPAY_TOKEN"], True),  # MID: a merchant id
        ("SERVER_STATUS_METRICS_USERNAME", ["SERVER_STATUS_METRICS_PASSWORD"], True),
        ("TEST_EMAIL", ["TEST_EMAIL_PASSWORD"], True),
        ("MAIL_LOGIN", ["MAIL_PASSWORD"], True),
        ("SUPPORT_USERNAME", ["SUPPORT_PASSWORD"], True),  # with a password beside it, a login
        ("SUPPORT_USERNAME", ["SUPPORT_MENU_ENABLED", "SUPPORT_SYSTEM_MODE"], False),  # a tenant default, not a credential
        ("SUPPORT_USERNAME", [], False),
        ("YOOKASSA_SHOP_ID", ["YOOKASSA_RETURN_URL"], False),  # no secret beside it
        ("YOOKASSA_SHOP_ID", ["CRYPTOBOT_API_TOKEN"], False),  # another provider's secret
        ("YOOKASSA_SHOP_ID", ["YOOKASSAPRO_SECRET"], False),  # the first word must be the same word
        ("TRIAL_TARIFF_ID", ["CRYPTOBOT_API_TOKEN"], False),
        ("TRAFFIC_EXCLUDED_USER_IDS", ["TRAFFIC_API_TOKEN"], False),  # a list of ids, not an account
        ("HAPP_DOWNLOAD_LINK_ANDROID", ["HAPP_API_KEY"], False),  # ends in the letters ID, not the word
        ("WEBHOOK_NOTIFY_USER_ENABLED", ["WEBHOOK_SECRET_TOKEN"], False),  # USER is not the last word
        # Names, not values, decide: a flag named like an account half beside a secret is excluded too (the safe side).
        ("CLOUDPAYMENTS_REQUIRE_EMAIL", ["CLOUDPAYMENTS_API_SECRET"], True),
    ],
)
def test_the_user_or_id_half_of_a_credential_pair(key, siblings, half):
    assert (master_only_family(key, [key, *siblings]) is CREDENTIAL_HALF) is half
    assert master_only_family(key) is None  # without its file's keys, no pair can be seen


def test_an_exclusion_reason_names_the_family():
    assert exclusion_reason("REMNAWAVE_AUTH_TYPE") == "master-only: REMNAWAVE_* (the operator's panel)"
    keys = ["YOOKASSA_SHOP_ID", "YOOKASSA_SECRET_KEY", "TRIAL_DURATION_DAYS"]
    assert exclusion_reason("YOOKASSA_SHOP_ID", keys=keys).startswith("master-only: the user or id half of a credential (")
    assert exclusion_reason("YOOKASSA_SECRET_KEY", keys=keys) == "secret-looking (copy it with --share YOOKASSA_SECRET_KEY)"
    assert exclusion_reason("YOOKASSA_SECRET_KEY", ["YOOKASSA_SECRET_KEY"], keys) is None  # shared
    assert exclusion_reason("TRIAL_DURATION_DAYS", keys=keys) is None
    # a secret in a family stays master-only, shared or not
    assert exclusion_reason("REMNAWAVE_WEBHOOK_SECRET", ["REMNAWAVE_WEBHOOK_SECRET"]) == "master-only: REMNAWAVE_* (the operator's panel)"
    assert exclusion_reason("NALOGO_PASSWORD", ["NALOGO_PASSWORD"]) == "master-only: NALOGO_* (the operator's tax registration)"


def test_sensitive_is_secret_or_master_only():
    assert is_sensitive_key("CRYPTOBOT_API_TOKEN") and not is_master_only("CRYPTOBOT_API_TOKEN")
    assert is_sensitive_key("C2C_CARDS") and not is_secret_key("C2C_CARDS")
    assert not is_sensitive_key("CABINET_ACCESS_TOKEN_EXPIRE_MINUTES")


PACKAGE = Path(tenantctl.__file__).parent
HOME = PACKAGE / "flags" / "keys.py"
# what only the classification writes: a family's prefix or the secret pattern, in a string
_FAMILY_TEXT = re.compile(r"REMNAWAVE_|NALOGO_|SMTP_|BACKUP_|LOG_ROTATION_|C2C_CARDS|C2C_ADMIN_|_CHAT_ID|_TOPIC_ID|TOKEN\|PASSWORD")


def test_the_classification_lives_in_flags_keys_only():
    names = {"is_secret_key", "master_only_family", "is_master_only", "is_sensitive_key", "exclusion_reason",
             "MASTER_ONLY_FAMILIES", "PLATFORM_SETTING_KEYS", "CREDENTIAL_HALF", "MASTER_ONLY_CONFIGS", "MASTER_ONLY_PREFIXES"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == HOME:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} defines {node.name}")
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id in names:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} assigns {node.id}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and _FAMILY_TEXT.search(node.value):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} spells {node.value!r}")
    assert found == []


def test_every_setting_in_the_readme_is_master_only():
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    settings = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", table, re.MULTILINE)
    assert len(settings) >= 10 and [key for key in settings if not is_master_only(key)] == []
