"""A `.env` parser whose values are exactly python-dotenv's, plus the context around them.

Keys, values and "the last duplicate wins" come from `dotenv.parser.parse_stream`, so
`parse_env_text(t).values() == dotenv_values(stream=StringIO(t), interpolate=False)`, key
order included. `${VAR}` is never interpolated: a catalogue wants what the file says, and
interpolation would read the process environment.

On top of dotenv this module keeps what a catalogue needs:
- the physical line of each key (1-based; a line break is dotenv's: CRLF, LF or a lone CR);
- its section: `# ===== NAME =====` (two or more `=`), `# ── NAME ──`, or a `# ====` rule
  line, a `# NAME` line and another rule line;
- its comment: the comment lines right above it (no blank line between), else its inline comment;
- commented-out settings (`# KEY=value`, KEY an upper-case identifier right after the `#`)
  as `optional`; prose that merely contains `=` (`# Required when X_ENABLED=true.`) is not one;
- warnings with line numbers for duplicates, unparsable lines, keys without `=` and keys that
  are not identifiers. Such keys are still kept, because dotenv keeps them.
"""

from __future__ import annotations

import bisect
import io
import os
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from dotenv.parser import Binding, Reader, parse_key, parse_stream, parse_value

from tenantctl.core.errors import Invalid

_NEWLINE = re.compile(r"\r\n|\n|\r")  # dotenv's line breaks
# The same small patterns dotenv's parse_binding uses between the pieces of a binding.
_LEADING_SPACE = re.compile(r"\s*")
_EXPORT = re.compile(r"(?:export[^\S\r\n]+)?")
_BLANKS = re.compile(r"[^\S\r\n]*")
_EQUAL_SIGN = re.compile(r"(=[^\S\r\n]*)")
_TRAILING_COMMENT = re.compile(r"[^\S\r\n]*#([^\r\n]*)")
_UNQUOTED_COMMENT = re.compile(r"\s+#(.*)")  # what dotenv strips off an unquoted value

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMENTED_OUT = re.compile(r"(?:export\s+)?[A-Z][A-Z0-9_]*=")
_RULE = re.compile(r"[=─━-]{3,}")
_HEADER = re.compile(r"={2,}\s*([^=\s](?:.*[^=\s])?)\s*={2,}|[─━-]{2,}\s*([^─━\s-](?:.*[^─━\s-])?)\s*[─━-]{2,}")


@dataclass(frozen=True)
class EnvEntry:
    key: str
    value: str | None
    line: int
    section: str | None
    comment: str  # the comment lines right above the key, else its inline comment
    commented_out: bool = False


@dataclass(frozen=True)
class EnvWarning:
    line: int
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "message": self.message}


@dataclass
class ParsedEnv:
    source: str
    entries: dict[str, EnvEntry] = field(default_factory=dict)
    optional: dict[str, EnvEntry] = field(default_factory=dict)
    sections: list[str] = field(default_factory=list)
    warnings: list[EnvWarning] = field(default_factory=list)

    def values(self) -> dict[str, str | None]:
        """Key -> value, as `dotenv_values(..., interpolate=False)` returns them."""
        return {key: entry.value for key, entry in self.entries.items()}


class _Item(NamedTuple):
    line: int  # physical line where the binding's text starts
    text: str  # that line, without its line break
    binding: Binding

    @property
    def is_comment(self) -> bool:
        return self.binding.key is None and not self.binding.error


def parse_env_file(path: str | os.PathLike) -> ParsedEnv:
    """Parse a UTF-8 `.env` file; `Invalid` if it is missing, unreadable or not UTF-8."""
    try:
        with open(path, encoding="utf-8") as stream:  # universal newlines, as dotenv_values(path)
            text = stream.read()
    except UnicodeDecodeError as exc:
        raise Invalid(f"{os.fspath(path)}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise Invalid(f"{os.fspath(path)}: cannot read .env file: {exc.strerror or exc}") from None
    return parse_env_text(text, source=os.fspath(path))


def parse_env_text(text: str, source: str = "<text>") -> ParsedEnv:
    """Parse `.env` text. Never raises: problems become warnings."""
    parsed = ParsedEnv(source=source)
    items = _items(text)
    headers, decoration = _headers({i.line: _uncomment(i.text) for i in items if i.is_comment})
    section: str | None = None
    block: list[str] = []  # the comment lines seen since the last blank line or key
    block_end = 0
    for item in items:
        if item.is_comment:
            if item.line in headers:
                section = headers[item.line]
                if section not in parsed.sections:
                    parsed.sections.append(section)
            if item.line in decoration:
                block = []
                continue
            if block_end != item.line - 1:
                block = []
            comment = _uncomment(item.text)
            if _COMMENTED_OUT.match(comment):
                _add_optional(parsed, comment, item.line, section, "\n".join(block))
                block = []
            else:
                block.append(comment)
                block_end = item.line
            continue
        if item.binding.error:
            parsed.warnings.append(EnvWarning(item.line, f"cannot parse line: {item.text[:80]!r}"))
        else:
            above = "\n".join(block) if block_end == item.line - 1 else ""
            comment = above or _inline_comment(item.binding.original.string)
            _add_entry(parsed, EnvEntry(item.binding.key, item.binding.value, item.line, section, comment))
        block = []
    for key in parsed.entries:
        parsed.optional.pop(key, None)
    return parsed


def _items(text: str) -> list[_Item]:
    """Every binding of dotenv's parse with the physical line its text starts on.

    Lines are counted from character offsets, not taken from dotenv: after an unparsable CRLF
    line dotenv's own counter runs one line ahead.
    """
    line_ends = [match.end() for match in _NEWLINE.finditer(text.removeprefix("\ufeff"))]
    items, offset = [], 0
    for binding in parse_stream(io.StringIO(text)):
        string = binding.original.string
        lead = _LEADING_SPACE.match(string).group()
        start, offset = offset + len(lead), offset + len(string)
        if binding.key is None and not binding.error and len(lead) == len(string):
            continue  # trailing whitespace at the end of the text
        line = bisect.bisect_right(line_ends, start) + 1
        items.append(_Item(line, _NEWLINE.split(string[len(lead) :], maxsplit=1)[0], binding))
    return items


def _uncomment(text: str) -> str:
    return text.lstrip("#").strip()


def _headers(comments: dict[int, str]) -> tuple[dict[int, str], set[int]]:
    """(line -> section name where a section starts, lines that are headers or rules)."""
    headers: dict[int, str] = {}
    decoration: set[int] = set()
    for line, text in comments.items():
        match = _HEADER.fullmatch(text)
        if match:
            headers[line] = match[1] or match[2]
            decoration.add(line)
        elif _RULE.fullmatch(text):
            decoration.add(line)
            name, closing = comments.get(line + 1), comments.get(line + 2)
            if name and closing is not None and _RULE.fullmatch(closing) and not _RULE.fullmatch(name):
                headers[line] = name
                decoration.update((line + 1, line + 2))
    return headers, decoration


def _inline_comment(string: str) -> str:
    """The `# comment` dotenv skipped after the value of a binding's text."""
    if "#" not in string:
        return ""
    reader = Reader(io.StringIO("\ufeff" + string))  # Reader drops one BOM: keep the text whole
    for regex in (_LEADING_SPACE, _EXPORT):
        reader.read_regex(regex)
    parse_key(reader)
    reader.read_regex(_BLANKS)
    if reader.peek(1) == "=":
        (equal_sign,) = reader.read_regex(_EQUAL_SIGN)
        empty_then_comment = len(equal_sign) > 1 and reader.peek(1) == "#"
        if not empty_then_comment and reader.peek(1) in ("'", '"'):
            parse_value(reader)
        elif not empty_then_comment:
            unquoted = _NEWLINE.split(string[reader.position.chars :], maxsplit=1)[0]
            match = _UNQUOTED_COMMENT.search(unquoted)
            return match[1].strip() if match else ""
    match = _TRAILING_COMMENT.match(string, reader.position.chars)
    return match[1].strip() if match else ""


def _add_entry(parsed: ParsedEnv, entry: EnvEntry) -> None:
    previous = parsed.entries.get(entry.key)
    if previous is not None:
        parsed.warnings.append(
            EnvWarning(entry.line, f"duplicate key {entry.key} on lines {previous.line} and {entry.line}; the last one wins")
        )
    if entry.value is None:
        parsed.warnings.append(EnvWarning(entry.line, f"{entry.key} has no '=' (its value is None)"))
    if not _IDENTIFIER.fullmatch(entry.key):
        parsed.warnings.append(EnvWarning(entry.line, f"{entry.key!r} is not a valid variable name"))
    parsed.entries[entry.key] = entry  # keeps the first position, like dotenv's dict


def _add_optional(parsed: ParsedEnv, text: str, line: int, section: str | None, above: str) -> None:
    bindings = list(parse_stream(io.StringIO(text)))
    keyed = [b for b in bindings if b.key is not None]
    if len(keyed) != 1 or any(b.error for b in bindings):
        return
    binding = keyed[0]
    comment = above or _inline_comment(binding.original.string)
    parsed.optional[binding.key] = EnvEntry(binding.key, binding.value, line, section, comment, commented_out=True)
