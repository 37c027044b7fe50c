"""One rule per fact: each rule below is defined once, and the places that once re-implemented it use it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tenantctl
from tenantctl.core.errors import Invalid
from tenantctl.flags.catalogue import MODE_OFF_VALUES, is_feature_enabled_value, mode_is_on
from tenantctl.flags.models import Feature
from tenantctl.flags.resolution import Layer, resolve
from tenantctl.tenants.rules import DEFAULT_LANGUAGE, LANGUAGES, bot_name_key, normalize_bot_name

PACKAGE = Path(tenantctl.__file__).parent
SOURCES = {path: path.read_text() for path in sorted(PACKAGE.rglob("*.py"))}

RULES = [  # the functions that hold a rule; each must be defined exactly once
    "normalize_bot_name", "bot_name_key", "normalize_language", "normalize_support", "mode_is_on", "validated_layer",
    "is_master_admin", "require", "suggest", "pending_renewals", "is_secret_key", "is_master_only", "is_sensitive_key",
    "exclusion_reason", "choose_card",
]


def _definitions(name: str) -> list[str]:
    found = []
    for path, text in SOURCES.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


@pytest.mark.parametrize("name", RULES)
def test_each_rule_is_defined_once(name: str) -> None:
    assert len(_definitions(name)) == 1, _definitions(name)


@pytest.mark.parametrize(
    "pattern, home, what",
    [
        (r"get_close_matches", "core/text.py", "close-match suggestions"),
        (r"^(?!\s*for\b).*\bin\s+(?:set\()?[\w.]*master_admin(?:s|_ids)\b", "tenants/permissions.py", "the master-admin check"),
        (r"status\s*==\s*\"pending\"", "billing/models.py", "the pending-renewal condition"),
        (r"\"disabled\",\s*\"none\"", "flags/catalogue.py", "the off values of a mode"),
        (r"\"\s\"\.join\(.*split\(\)\)", "tenants/rules.py", "bot-name whitespace rule"),
    ],
)
def test_a_rule_is_written_in_one_place(pattern: str, home: str, what: str) -> None:
    places = [str(path.relative_to(PACKAGE)) for path, text in SOURCES.items()
              if any(re.search(pattern, line) for line in text.splitlines())]
    assert places == [home], f"{what} is written in {places}, expected only in {home}"


def test_bot_names_normalise_the_same_for_every_adapter() -> None:
    assert normalize_bot_name("  My \t VPN\n") == "My VPN"
    assert normalize_bot_name("Ｍｙ ＶＰＮ") == "My VPN"  # NFKC folds full-width letters
    assert bot_name_key("My  VPN") == bot_name_key("my vpn")
    for bad in ("ab", "x" * 65, "   ", None):
        with pytest.raises(Invalid) as refused:
            normalize_bot_name(bad)
        assert refused.value.code == "name_length"


def test_one_default_language() -> None:
    from tenantctl.cli.tenant import create
    from tenantctl.onboarding import service as onboarding
    from tenantctl.tenants.service import provision_tenant

    assert DEFAULT_LANGUAGE in LANGUAGES
    assert provision_tenant.__kwdefaults__["language"] == DEFAULT_LANGUAGE
    assert create.__defaults__[4].default == DEFAULT_LANGUAGE  # `tenant create --language`
    assert "DEFAULT_LANGUAGE" in Path(onboarding.__file__).read_text()  # a draft without a language gets it


@pytest.mark.parametrize("value", sorted(MODE_OFF_VALUES | {"0", " Disabled "}))
def test_a_mode_value_is_off_in_the_catalogue_and_in_resolution_alike(value: str) -> None:
    feature = Feature(key="support_tickets", kind="mode", default_enabled=True, default_value="both",
                      allowed_values=["tickets", "contact", "both", value], default_config={})
    assert not mode_is_on(value) and not is_feature_enabled_value("mode", value)
    assert not resolve(feature, Layer(None, value), None, active=True).enabled


def test_mode_on_values_are_on_everywhere() -> None:
    feature = Feature(key="support_tickets", kind="mode", default_enabled=False, default_value=None,
                      allowed_values=["tickets", "contact", "both"], default_config={})
    for value in ("tickets", "both", "1"):
        assert mode_is_on(value) and is_feature_enabled_value("mode", value)
        assert resolve(feature, Layer(None, value), None, active=True).enabled
