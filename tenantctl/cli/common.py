"""What every CLI command shares: running a unit of work, errors as one line, output helpers."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any, Awaitable, Callable, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tenantctl.core.app import App

T = TypeVar("T")

# C0 and C1 control characters but tab and newline: a terminal would obey them (ESC sequences, bells)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """`text` without control characters, so that what a user or registrant supplied cannot drive the terminal."""
    return _CONTROL.sub("", text)


class SafeConsole(Console):
    """A Rich console that never reads markup from strings and strips control characters from every one.

    Names, messages and settings come from users, registrants and env files; a `[/]` in a bot name
    must print as itself. Our own styles are Text objects (`line`), never markup.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> "Text":
        return super().render_str(clean(text), **{**kwargs, "markup": False})

    def on_broken_pipe(self) -> None:
        """The reader went away (`tenantctl tenant list | head -1`): stop quietly, with success."""
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout at exit: not into the pipe
        raise SystemExit(0)


def line(*parts: "str | tuple[str, str]") -> "Text":
    """One line of output: plain parts as they are, (text, style) parts styled; control characters removed from both."""
    return Text.assemble(*((clean(part[0]), part[1]) if isinstance(part, tuple) else clean(part) for part in parts))


console = SafeConsole()
err_console = SafeConsole(stderr=True)


def actor() -> str:
    """The audit actor for this CLI user."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no passwd entry (containers)
        return "cli:unknown"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one readable error line and exit non-zero."""
    err_console.print(line(("error:", "bold red"), f" {message}"), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def or_fail(call: Callable[[], T]) -> T:
    """Run a plain (non-database) call; project errors become one line and a non-zero exit."""
    from tenantctl.core.errors import ConfigError, TenantctlError

    try:
        return call()
    except TenantctlError as exc:
        fail(str(exc), code=2 if isinstance(exc, ConfigError) else 1)


def run_app(work: Callable[["App"], Awaitable[T]], *, check_schema: bool = True) -> T:
    """Open the app, run `work`, close; project errors become one line and a non-zero exit."""
    from sqlalchemy.exc import SQLAlchemyError

    import tenantctl.models  # noqa: F401 (every table, so foreign keys across domains resolve)
    from tenantctl.core.app import open_app
    from tenantctl.core.errors import ConfigError, TenantctlError
    from tenantctl.core.settings import Settings

    async def main() -> T:
        settings = Settings.load()
        async with open_app(settings, check_schema=check_schema) as app:
            try:
                return await work(app)
            finally:
                for notice in app.notices:
                    err_console.print(line(("note:", "yellow"), f" {notice}"), highlight=False)

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        fail(str(exc), code=2)
    except TenantctlError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        fail(f"database error: {reason[0] if reason else type(exc).__name__}", code=2)
    except OverflowError:  # a number no database column holds, in a lookup
        fail("a number is out of range (at most 9223372036854775807)", code=2)
    except KeyboardInterrupt:
        fail("interrupted", code=130)


def run_tx(work: Callable[["AsyncSession", "App"], Awaitable[T]]) -> T:
    """Run `work` in one transaction: it all lands, or nothing does (re-run whole on a deadlock)."""
    from tenantctl.core.db import run_in_transaction

    async def in_transaction(app: "App") -> T:
        return await run_in_transaction(app.sessions, lambda session: work(session, app))

    return run_app(in_transaction)


def working(message: str) -> "contextlib.AbstractContextManager[Any]":
    """A spinner with `message` while long work runs, on a terminal only (scripts and pipes get no noise)."""
    return err_console.status(message) if err_console.is_terminal else contextlib.nullcontext()


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    try:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        console.on_broken_pipe()


def parse_when(text: str):
    """A date (2026-11-27) or ISO time (UTC unless it names an offset), as aware UTC: the same instant."""
    from datetime import datetime, timezone

    from tenantctl.core.errors import Invalid

    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"{text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


def parse_config_options(config_json: str | None, set_items: list[str]) -> dict[str, Any]:
    """--config JSON and --set KEY=VALUE pairs as one dict (values typed like .env defaults)."""
    from tenantctl.flags.catalogue import coerce_value

    config: dict[str, Any] = {}
    if config_json:
        try:
            config = json.loads(config_json)
        except json.JSONDecodeError as exc:
            fail(f"--config is not valid JSON: {exc.msg} at position {exc.pos}")
        if not isinstance(config, dict):
            fail("--config must be a JSON object")
    for item in set_items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set {item!r}: use KEY=VALUE")
        config[key.strip()] = coerce_value(raw)
    return config
