"""`tenantctl sandbox`: chat with the demo's bots in the terminal, on a fake Bot API and a throwaway database.

The chat itself is `tenantctl.testing.sandbox`; this reads the lines, prints what the bots do and runs the bot
runner on the sandbox's platform. aiogram is imported only inside the command.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Optional

import typer

from tenantctl.cli.common import console, fail, line, working

_STYLES = {"bot": "", "buttons": "cyan", "note": "dim", "error": "red", "you": "bold"}


def _say(text: str, kind: str) -> None:
    console.print(line((text, _STYLES[kind])), highlight=False, soft_wrap=True)


def _read_lines(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Read stdin line by line in a daemon thread (the event loop keeps running); None at the end of input."""
    def push(item: str | None) -> bool:
        try:
            loop.call_soon_threadsafe(lines.put_nowait, item)
        except RuntimeError:  # the loop is closed: the sandbox has stopped
            return False
        return True

    def read() -> None:
        for text in sys.stdin:
            if not push(text.rstrip("\r\n")):
                return
        push(None)

    threading.Thread(target=read, name="sandbox-stdin", daemon=True).start()


def sandbox(
    user: Optional[int] = typer.Option(None, "--user", min=1, help="The Telegram user id to start as (default: a new user)."),
    bot: Optional[str] = typer.Option(None, "--bot", help="The bot to start with: its number in :bots or its @username "
                                                          "(default: the master bot)."),
    language: str = typer.Option("en", "--language", help="The language code the user's Telegram client sends (en, ru, fa)."),
) -> None:
    """Chat with the demo's bots as a Telegram user: a fake Bot API on 127.0.0.1, the demo in a throwaway SQLite
    database, and the real bot runner. Nothing reaches Telegram and your own data is never touched.

    Read line by line from stdin, so a session can be scripted. `:help` lists the sandbox's commands.

    Example: `tenantctl sandbox`, then type /register_tenant.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from tenantctl.core.errors import ConfigError, TenantctlError

    try:
        asyncio.run(_session(user=user, bot=bot, language=language))
    except KeyboardInterrupt:  # Ctrl-C: everything has stopped by now
        console.print()
    except TenantctlError as exc:
        fail(str(exc), code=2 if isinstance(exc, ConfigError) else 1)
    except SQLAlchemyError as exc:  # the sandbox's own database failed (a schema or migration fault)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        fail(f"database error: {reason[0] if reason else type(exc).__name__}", code=2)
    _say("sandbox stopped; its data is gone", "note")


async def _session(*, user: int | None, bot: str | None, language: str) -> None:
    from contextlib import AsyncExitStack

    from tenantctl.bot.runner import Runner
    from tenantctl.core.db import utcnow
    from tenantctl.testing.sandbox import ADMIN, HELP_LINE, Chat, open_world

    async with AsyncExitStack() as stack:
        with working("starting the sandbox: the demo data, a fake Bot API and the bots"):
            world = await stack.enter_async_context(open_world(now=utcnow()))
            runner = Runner(world.app, interval=1.0, poll_timeout=10)
            await runner.start()
            stack.push_async_callback(runner.stop)
        _say(f"sandbox: the demo in {world.folder} (deleted at exit), a fake Bot API at {world.fake.base_url}, "
             f"master admin {ADMIN}", "note")
        chat = Chat(world, _say, user=user, language=language)
        await chat.start(bot=bot)
        _say(HELP_LINE, "note")
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        _read_lines(asyncio.get_running_loop(), lines)
        typing = sys.stdin.isatty()
        while True:
            chat.show_new()
            if typing:
                console.print("you> ", end="", style=_STYLES["you"], highlight=False)
            text = await lines.get()
            if text is None:
                break
            if not typing:
                _say(f"you> {text}", "you")
            if not await chat.handle(text):
                break
