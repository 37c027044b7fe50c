"""The rules for what a tenant bot is called and speaks, one definition each, used by every adapter."""

from __future__ import annotations

import re
import unicodedata

from tenantctl.core.errors import Invalid

LANGUAGES = ("fa", "ru", "en")
DEFAULT_LANGUAGE = "ru"  # a tenant bot's language when none is chosen
BOT_NAME_LENGTH = (3, 64)
_SUPPORT_RE = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


def normalize_bot_name(name: str | None) -> str:
    """The name as stored: NFKC, whitespace collapsed to single spaces, 3-64 characters; Invalid otherwise."""
    text = " ".join(unicodedata.normalize("NFKC", name or "").split())
    low, high = BOT_NAME_LENGTH
    if not low <= len(text) <= high:
        raise Invalid(f"the bot name must be {low} to {high} characters", code="name_length")
    return text


def bot_name_key(name: str) -> str:
    """What two names must differ in to both exist: the normalised name, casefolded."""
    return normalize_bot_name(name).casefold()


def normalize_language(language: str | None) -> str:
    """One of LANGUAGES (DEFAULT_LANGUAGE when empty); Invalid otherwise."""
    code = (language or "").strip().lower() or DEFAULT_LANGUAGE
    if code not in LANGUAGES:
        raise Invalid(f"language {code!r} is not one of {', '.join(LANGUAGES)}", code="language_unknown")
    return code


def normalize_support(username: str | None) -> str | None:
    """'@name' (added if missing), or None; Invalid unless it is a Telegram username."""
    if username is None or not username.strip():
        return None
    text = "@" + username.strip().removeprefix("@")
    if not _SUPPORT_RE.fullmatch(text):
        raise Invalid(f"support username {username!r} is not a Telegram username (5-32 letters, digits or _)",
                      code="support_invalid")
    return text
