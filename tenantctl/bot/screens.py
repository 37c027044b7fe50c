"""What every button-driven screen shares (the master admin panel, the tenant dashboard).

A screen is a `View`, built by a read-only function and shown in place of the pressed message once
the update's transaction has committed. Data naming a row that is gone raises `Expired` ("this
button has expired"); a service's refusal becomes its localized line, and nothing is committed.
Typed input waits in one entry of the user's FSM data (`ScreenContext.wait_for`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, ClassVar, TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.methods import EditMessageText, SendMessage, SendPhoto
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, InputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.bot.keyboards import Row
from tenantctl.bot.locales import error_text, t
from tenantctl.bot.outbox import Outbox
from tenantctl.core.app import App
from tenantctl.core.errors import NotFound, TenantctlError

T = TypeVar("T")
PAGE = 8  # items per list page
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


class Stage(StrEnum):
    """An action's stage: ASK (a confirmation or an input), then DO."""

    ASK = "?"
    DO = "!"


class Expired(Exception):
    """The button names something that no longer exists (or never did)."""


@dataclass
class View:
    """A screen: its text and buttons, or a photo with the text as its caption."""

    text: str
    markup: InlineKeyboardMarkup
    photo: str | InputFile | None = None  # a Telegram file id, or the bytes of a new picture

    def __post_init__(self) -> None:
        if len(self.text) > TEXT_LIMIT:
            self.text = self.text[: TEXT_LIMIT - 1] + "…"


def noted(view: View, note: str) -> View:
    """The view with a line on top (what was just done)."""
    return View(f"{note}\n\n{view.text}", view.markup, view.photo)


def nav(lang: str, back: CallbackData, home: CallbackData) -> Row:
    """Back and Home, at the bottom of every screen."""
    return [(t(lang, "btn_back"), back), (t(lang, "btn_home"), home)]


def pages(total: int, page: int) -> tuple[int, int]:
    """(page clamped to the ones there are, page count); at least one page."""
    count = max(1, -(-total // PAGE))
    return min(max(page, 0), count - 1), count


def page_of(rows: list[Any], page: int) -> tuple[list[Any], int, int]:
    """(the rows on the page, page clamped to the ones there are, page count) of a list held in memory."""
    page, count = pages(len(rows), page)
    return rows[page * PAGE:(page + 1) * PAGE], page, count


async def or_expired(lookup: Awaitable[T], item_id: int) -> T:
    """What `lookup` finds, else Expired: a row of another bot is as gone as a deleted one."""
    try:
        return await lookup
    except NotFound:
        raise Expired(item_id) from None


async def paged(fetch: Callable[[int], Awaitable[tuple[list[Any], int]]], page: int) -> tuple[list[Any], int, int, int]:
    """(rows, total, page, page count) of a query that pages by offset; a page past the end shows the last one."""
    rows, total = await fetch(page * PAGE)
    shown_page, count = pages(total, page)
    if shown_page != page:
        rows, total = await fetch(shown_page * PAGE)
    return rows, total, shown_page, count


def pager(page: int, count: int, at: Callable[[int], CallbackData]) -> Row:
    """‹ and › around the page number, when there is more than one page."""
    if count <= 1:
        return []
    row: Row = []
    if page > 0:
        row.append(("‹", at(page - 1)))
    row.append((f"{page + 1}/{count}", at(page)))
    if page < count - 1:
        row.append(("›", at(page + 1)))
    return row


@dataclass
class ScreenContext:
    """What a screen handler works with: the update's unit of work and who is acting."""

    PENDING: ClassVar[str]  # the FSM data entry of the typed input this area waits for

    session: AsyncSession
    outbox: Outbox
    lang: str
    app: App
    state: FSMContext
    bot: Bot
    user_id: int

    async def pending(self) -> dict[str, Any] | None:
        """The input this area waits for from this user, if any."""
        return (await self.state.get_data()).get(self.PENDING)

    async def wait_for(self, pending: dict[str, Any] | None) -> None:
        """Wait for this input next (None: for nothing); other FSM data is left as it is."""
        data = await self.state.get_data()
        if pending is None:
            if self.PENDING not in data:
                return
            del data[self.PENDING]
        else:
            data[self.PENDING] = pending
        await self.state.set_data(data)


def waiting_filter(key: str) -> Callable[..., Awaitable[dict[str, Any] | bool]]:
    """A message filter passing when input is awaited under FSM data `key`, with it as `pending`."""

    async def waiting(message: Message, state: FSMContext | None = None) -> dict[str, Any] | bool:
        pending = (await state.get_data()).get(key) if state is not None else None
        return {"pending": pending} if pending else False

    return waiting


async def _edit(bot: Bot, method: EditMessageText) -> None:
    """Edit a screen in place; an unchanged screen (a refresh) is not an error, and one that cannot be
    edited any more (too old, deleted) comes again as a new message."""
    try:
        await bot(method)
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            await bot(SendMessage(chat_id=method.chat_id, text=method.text, reply_markup=method.reply_markup))


def show(ctx: ScreenContext, event: Message | CallbackQuery, view: View) -> None:
    """Queue the screen: in place of the pressed message, else (or when it is a photo) as a new message."""
    if isinstance(event, CallbackQuery):
        ctx.outbox.send(event.answer())
        message = event.message
        if isinstance(message, Message) and message.text is not None and view.photo is None:
            ctx.outbox.then(partial(_edit, ctx.bot, EditMessageText(chat_id=message.chat.id, message_id=message.message_id,
                                                                    text=view.text, reply_markup=view.markup)))
            return
    if view.photo is not None:
        ctx.outbox.send(SendPhoto(chat_id=ctx.user_id, photo=view.photo, caption=view.text[:CAPTION_LIMIT], reply_markup=view.markup))
        return
    ctx.outbox.send(SendMessage(chat_id=ctx.user_id, text=view.text, reply_markup=view.markup))


def refuse(ctx: ScreenContext, event: Message | CallbackQuery, text: str) -> None:
    """Queue a refusal: an alert on the pressed button, or a reply to the message."""
    if isinstance(event, CallbackQuery):
        ctx.outbox.send(event.answer(text, show_alert=True))
    else:
        ctx.outbox.send(event.answer(text))


async def respond(ctx: ScreenContext, event: Message | CallbackQuery, build: Callable[[], Awaitable[View]], *,
                  on_refusal: Callable[[Exception], Awaitable[None]] | None = None) -> None:
    """Build a screen and show it; a gone row is "this button has expired", a refusal its localized line.

    Services check before they write, and `build` changes the waiting input only once its own
    checks passed, so a refusal commits nothing but what `on_refusal` records. (No savepoint: on
    SQLite, pysqlite's SAVEPOINT handling would end the update's transaction early.)
    """
    try:
        view = await build()
    except (Expired, TenantctlError) as exc:
        if on_refusal is not None:
            await on_refusal(exc)
        refuse(ctx, event, t(ctx.lang, "button_expired") if isinstance(exc, Expired) else error_text(ctx.lang, exc))
    else:
        show(ctx, event, view)
