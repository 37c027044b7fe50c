"""The rules for what a tenant bot is called and speaks, one definition each, used by every adapter."""

from __future__ import annotations

import functools
import re
import unicodedata

from tenantctl.core.errors import Invalid

LANGUAGES = ("fa", "ru", "en")
DEFAULT_LANGUAGE = "ru"  # a tenant bot's language when none is chosen
BOT_NAME_LENGTH = (3, 64)
_SUPPORT_RE = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


def _collapse(name: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", name or "").split())


def normalize_bot_name(name: str | None) -> str:
    """The name as stored: NFKC, whitespace collapsed to single spaces, 3-64 characters; Invalid otherwise."""
    text = _collapse(name)
    low, high = BOT_NAME_LENGTH
    if not low <= len(text) <= high:
        raise Invalid(f"the bot name must be {low} to {high} characters", code="name_length")
    return text


def bot_name_key(name: str) -> str:
    """What two names must differ in to both exist (`bots.name_key`, unique).

    The name NFKC-normalised, whitespace collapsed, casefolded, invisible format characters
    dropped, and every character replaced by its look-alike skeleton (`_look_alike`), so
    "Tеnant One" with a Cyrillic е has the key of "Tenant One".
    """
    folded = unicodedata.normalize("NFKC", _collapse(name).casefold())
    return "".join(_look_alike(char) for char in folded if unicodedata.category(char) != "Cf")


@functools.cache
def _look_alike(char: str) -> str:
    """The character's prototype in Unicode's confusables (UTS #39 data, from confusable-homoglyphs), casefolded.

    Names compare without case, so a lower-case letter whose capital looks Latin takes the Latin
    letter (Cyrillic т: Т is T). Prototypes that are not ASCII are kept only when nothing Latin fits.
    """
    candidates = [_prototype(char), _prototype(char.upper())]
    return next((c.casefold() for c in candidates if c.isascii()), candidates[0].casefold())


def _prototype(char: str) -> str:
    """Unicode's prototype for `char` (itself if it has none).

    The package stores each confusables.txt pair both ways: a source has exactly its prototype,
    a prototype all its sources. A pair of two lone partners is ambiguous; the smaller stands for both.
    """
    from confusable_homoglyphs.confusables import confusables_data  # here: loading its data takes ~70 ms

    partners = confusables_data.get(char, ())
    if len(partners) != 1:
        return char
    other = partners[0]["c"]
    return other if len(confusables_data.get(other, ())) > 1 else min(char, other)


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
