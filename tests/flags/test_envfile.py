"""The .env parser: dotenv's values plus lines, sections, comments, optional keys and warnings."""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tenantctl.core.errors import Invalid, TenantctlError
from tenantctl.flags.catalogue import extract_catalogue
from tenantctl.flags.envfile import EnvWarning, parse_env_file, parse_env_text

DATA = Path(__file__).parent / "data"
MESSY = DATA / "messy.env"


def dotenv_of(text: str) -> dict[str, str | None]:
    # interpolate=False: our parser never expands ${VAR}, so compare with dotenv's raw values.
    return dotenv_values(stream=io.StringIO(text), interpolate=False)


@pytest.fixture(scope="module")
def messy():
    return parse_env_file(MESSY)


def test_messy_values_equal_dotenv(messy):
    expected = dotenv_values(MESSY, interpolate=False)
    assert messy.values() == expected
    assert list(messy.values()) == list(expected)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SPACED", "hello big world"),
        ("EMPTY", ""),
        ("EMPTY_WITH_COMMENT", ""),
        ("HASH_VALUE", "#not-a-comment"),
        ("EXPORTED", "yes"),
        ("SINGLE", "single # not comment"),
        ("DOUBLE", 'double "escaped" value'),
        ("CYRILLIC", "Пополнение баланса"),
        ("PLACEHOLDER", "<ID магазина>"),
        ("BRACES", "{service_name} - {description}"),
        ("JSON_OBJECT", '{"a":1,"b":[true,null]}'),
        ("INTERPOLATED", "${PLAIN}/path"),
        ("MULTILINE", "first line\nsecond line"),
        ("NO_EQUALS", None),
        ("DUP", "second"),
        ("odd.key-name", "kept like dotenv keeps it"),
    ],
)
def test_messy_value(messy, key, value):
    assert messy.entries[key].value == value


def test_lines_sections_and_comments(messy):
    plain = messy.entries["PLAIN"]
    assert (plain.line, plain.section) == (8, "BASICS")
    assert plain.comment == "Plain value with a comment block\nspanning two lines"
    assert messy.entries["SPACED"].comment == "inline comment after spaces"
    assert messy.entries["EMPTY_WITH_COMMENT"].comment == "nothing here"
    assert messy.entries["DOUBLE"].comment == "trailing note"
    assert messy.entries["SINGLE"].comment == ""
    # A quoted value spans lines 24-25, so the next key is on physical line 26.
    assert (messy.entries["MULTILINE"].line, messy.entries["AFTER_MULTILINE"].line) == (24, 26)
    assert messy.entries["MULTILINE"].section == "Quoted across lines"
    assert messy.entries["DUP"].line == 43
    assert messy.sections == ["Messy Sample Config", "BASICS", "Quoted across lines", "Commented out", "DUPLICATES AND GARBAGE"]


def test_commented_out_keys_are_optional_and_prose_is_not(messy):
    assert list(messy.optional) == ["OPTIONAL_URL", "BOT_USERNAME"]
    url = messy.optional["OPTIONAL_URL"]
    assert (url.value, url.line, url.commented_out) == ("https://example.com", 30, True)
    assert url.comment == "Optional setting, documented"
    assert messy.optional["BOT_USERNAME"].value == ""
    # The prose lines stay comments of the next key.
    assert "Required when FEATURE_ENABLED=true." in messy.entries["PLAIN_AGAIN"].comment


def test_optional_skips_keys_that_are_active():
    parsed = parse_env_text("# FOO=example\nFOO=real\n# BAR=1\n")
    assert list(parsed.optional) == ["BAR"]


def test_warnings_name_lines(messy):
    assert [w.as_dict() for w in messy.warnings] == [
        {"line": 40, "message": "cannot parse line: 'this line is garbage'"},
        {"line": 41, "message": "NO_EQUALS has no '=' (its value is None)"},
        {"line": 42, "message": "cannot parse line: '=no key'"},
        {"line": 43, "message": "duplicate key DUP on lines 39 and 43; the last one wins"},
        {"line": 44, "message": "'odd.key-name' is not a valid variable name"},
    ]


def test_duplicate_warning_names_both_lines():
    parsed = parse_env_text("A=1\n\nB=2\nA=3\n")
    assert parsed.values() == {"A": "3", "B": "2"}
    assert parsed.warnings == [EnvWarning(4, "duplicate key A on lines 1 and 4; the last one wins")]


def test_crlf_and_bom():
    text = "\ufeff# ===== S =====\r\n# about A\r\nexport A=1  # one\r\n\r\nB=\"x\r\ny\"\r\nC=3\r\n"
    parsed = parse_env_text(text)
    assert parsed.values() == dotenv_of(text) == {"A": "1", "B": "x\r\ny", "C": "3"}
    assert [(e.line, e.section, e.comment) for e in parsed.entries.values()] == [
        (3, "S", "about A"),
        (5, "S", ""),
        (7, "S", ""),
    ]


def test_lines_stay_physical_after_a_bad_crlf_line():
    # dotenv's own counter runs one line ahead after an unparsable CRLF line; ours does not.
    parsed = parse_env_text("bad line\r\n# note\r\nA=1\r\n")
    assert parsed.warnings == [EnvWarning(1, "cannot parse line: 'bad line'")]
    assert (parsed.entries["A"].line, parsed.entries["A"].comment) == (3, "note")


def test_crlf_and_bom_file(tmp_path):
    path = tmp_path / "crlf.env"
    path.write_bytes("\ufeffA=1\r\nB='two words'\r\n".encode())
    parsed = parse_env_file(path)
    assert parsed.values() == dotenv_values(path, interpolate=False) == {"A": "1", "B": "two words"}
    assert parsed.source == str(path)


def test_header_styles():
    text = "# =====\n# TOP\n# =====\nA=1\n# ── Sub ──\nB=2\n# === Mid ===\nC=3\n# ==== not a header\nD=4\n"
    parsed = parse_env_text(text)
    assert parsed.sections == ["TOP", "Sub", "Mid"]
    assert [e.section for e in parsed.entries.values()] == ["TOP", "Sub", "Mid", "Mid"]


def test_missing_file_is_invalid(tmp_path):
    with pytest.raises(Invalid, match="missing.env"):
        parse_env_file(tmp_path / "missing.env")


def test_directory_is_invalid(tmp_path):
    with pytest.raises(Invalid, match=re.escape(str(tmp_path))):
        parse_env_file(tmp_path)


def test_non_utf8_file_is_invalid(tmp_path):
    path = tmp_path / "latin1.env"
    path.write_bytes("NAME=caf\xe9\n".encode("latin-1"))
    with pytest.raises(Invalid, match="latin1.env: not UTF-8"):
        parse_env_file(path)


# ---- property: any text parses to exactly dotenv's values, and nothing else escapes ----

KEYS = st.one_of(st.sampled_from(["A", "FOO_ENABLED", "ENABLE_BAR", "X_MODE", "FOO_URL", "BAR_TOKEN"]), st.from_regex(r"[A-Z_][A-Z0-9_]{0,6}", fullmatch=True))
CHARS = st.characters(codec="utf-8", exclude_characters="\r\n")
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=30)
UNQUOTED = st.text(st.sampled_from(list("ab =#${}[],:\"'\\ ЖÿΩ\t")) | CHARS, max_size=20)
QUOTED = st.builds(lambda q, body: q + body + q, st.sampled_from(["'", '"']), ANY_TEXT)
VALUES = st.one_of(st.just(""), UNQUOTED, QUOTED, st.sampled_from(["true", "false", "disabled", "[1,2]", '{"a": 1}', "1,2,3", "<ID>", "  # c"]))
ASSIGNMENT = st.builds(
    lambda export, key, space, value, comment: f"{export}{key}{space}={value}{comment}",
    st.sampled_from(["", "export ", "  "]),
    KEYS,
    st.sampled_from(["", " "]),
    VALUES,
    st.sampled_from(["", " # note", "   #x"]),
)
COMMENT = st.builds(lambda body: "#" + body, st.text(CHARS, max_size=25))
COMMENTED_OUT = st.builds(lambda key, value: f"# {key}={value}", KEYS, VALUES)
HEADER = st.builds(lambda name: f"# ===== {name} =====", st.text(CHARS, min_size=1, max_size=10))
LINES = st.lists(
    st.one_of(ASSIGNMENT, ASSIGNMENT, COMMENT, COMMENTED_OUT, HEADER, st.just(""), KEYS, st.text(CHARS, max_size=20), ANY_TEXT),
    max_size=15,
)
ENV_TEXT = st.builds(
    lambda bom, lines, newline: bom + newline.join(lines),
    st.sampled_from(["", "\ufeff"]),
    LINES,
    st.sampled_from(["\n", "\r\n", "\r"]),
)
_NEWLINE = re.compile(r"\r\n|\n|\r")


@settings(max_examples=200, deadline=None)
@given(ENV_TEXT)
@example("bad line\r\n#\r\nA")  # dotenv's line counter drifts after a bad CRLF line
@example("#\n\ufeff")  # a BOM that is not at the start is a key for dotenv
@example("'\n#'")  # a quoted key across lines
def test_property_values_equal_dotenv(text):
    try:
        parsed = parse_env_text(text)
        catalogue = extract_catalogue(parsed)
    except TenantctlError:
        return
    assert parsed.values() == dotenv_of(text)
    assert list(parsed.values()) == list(dotenv_of(text))
    physical = _NEWLINE.split(text.removeprefix("\ufeff"))
    for entry in parsed.entries.values():  # a quoted key may span lines: check its first line
        assert _NEWLINE.split(entry.key)[0] in physical[entry.line - 1]
    json.dumps(catalogue.as_dict(), allow_nan=False)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_property_any_file_is_parsed_or_invalid(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "any.env")
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            parsed = parse_env_file(path)
        except Invalid:
            return
        assert parsed.values() == dotenv_values(path, interpolate=False)
