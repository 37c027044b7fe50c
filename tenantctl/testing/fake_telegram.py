"""In-process fake of the Telegram Bot API for bot tests and benchmarks.

`FakeTelegram` serves ``/bot{token}/{method}`` over real HTTP on 127.0.0.1 so an
aiogram ``Bot`` built with ``AiohttpSession(api=TelegramAPIServer.from_base(url))``
talks to it unchanged.  The test side registers bots with `FakeTelegram.add_bot`
and drives each one through its `FakeBot`: inject user messages, button presses
and checkouts, then inspect or await the API calls the bot made.

Request parameters are accepted as query string, JSON body, urlencoded or
multipart form.  aiogram sends plain strings raw and JSON-encodes everything
else (``chat_id=42``, ``ok=true``, ``reply_markup={...}``), so form values are
JSON-decoded unless the parameter is a free-text one (`_TEXT_PARAMS`).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

__all__ = ["Call", "FakeBot", "FakeTelegram", "buttons", "find_button"]

# Parameters that are always strings in the Bot API; never JSON-decode them.
_TEXT_PARAMS = frozenset({
    "text", "caption", "title", "description", "payload", "provider_token",
    "currency", "url", "secret_token", "error_message", "callback_query_id",
    "pre_checkout_query_id", "telegram_payment_charge_id", "parse_mode",
    "start_parameter", "language_code", "photo", "document", "inline_message_id",
    "business_connection_id", "message_effect_id", "provider_data", "photo_url",
})
_TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_HTML_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
    "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji",
})
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


@dataclass
class Call:
    """One Bot API request made by a bot, as recorded by the fake.

    ``result`` is a snapshot of what the bot received; ``error`` holds the error
    description when the request failed; ``unknown`` marks methods the fake does
    not implement (answered with ``true``).
    """

    method: str
    params: dict[str, Any]
    result: Any
    at: float
    error: str | None = None
    unknown: bool = False

    @property
    def ok(self) -> bool:
        """Whether the bot received a successful response."""
        return self.error is None


class ApiError(Exception):
    """A Bot API error response (``error_code`` + ``description``)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def buttons(obj: Call | dict[str, Any]) -> list[tuple[str, str | None]]:
    """Return ``(text, callback_data)`` for every button of a message or call.

    ``obj`` is a message dict (its ``reply_markup``) or a `Call` (the
    ``reply_markup`` parameter, which also covers reply keyboards, whose
    buttons have ``callback_data`` None).
    """
    markup = (obj.params if isinstance(obj, Call) else obj).get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    found = []
    for row in rows:
        for button in row:
            if isinstance(button, str):
                found.append((button, None))
            else:
                found.append((button["text"], button.get("callback_data")))
    return found


def find_button(obj: Call | dict[str, Any], text_substring: str) -> str | None:
    """Return the callback_data of the first button whose text contains ``text_substring``."""
    all_buttons = buttons(obj)
    for text, data in all_buttons:
        if text_substring in text:
            return data
    raise AssertionError(f"no button containing {text_substring!r}; buttons: {all_buttons}")


class _HtmlText(HTMLParser):
    """Validate Telegram-flavoured HTML like the Bot API does, collecting the plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in _HTML_TAGS:
            raise ApiError(400, f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise ApiError(400, f'Bad Request: can\'t parse entities: Unmatched end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _visible_text(text: str, parse_mode: str | None) -> str:
    """Return the text a user sees: HTML is validated and its tags stripped."""
    if (parse_mode or "").lower() != "html":
        return text
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise ApiError(
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to "
            f'start tag "{parser.open[-1]}"',
        )
    return "".join(parser.text)


def _require(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(400, f"Bad Request: {name} is empty")
    return value


def _int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if value is None:
        raise ApiError(400, f"Bad Request: {name} is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {name}") from None


def _chat_id(params: dict[str, Any]) -> int:
    try:
        return int(_require(params, "chat_id"))
    except ValueError:  # "@channelusername": the fake knows no public chats
        raise ApiError(400, "Bad Request: chat not found") from None


def _inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """Validate ``reply_markup``; return it if it is an inline keyboard (kept on the message)."""
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if "callback_data" in button and not 1 <= len(button["callback_data"].encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup if "inline_keyboard" in markup else None


def _decode(name: str, value: str) -> Any:
    if name in _TEXT_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query string and body (JSON, urlencoded or multipart) into one dict.

    Uploaded files become ``{"filename": ..., "content": bytes}``, substituted
    for ``attach://<field>`` references (aiogram's encoding) or stored under
    their own field name.
    """
    params = {name: _decode(name, value) for name, value in request.query.items()}
    if request.content_type == "application/json" and request.can_read_body:
        params.update(await request.json())
    elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        files = {}
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                files[name] = {"filename": value.filename, "content": value.file.read()}
            else:
                params[name] = _decode(name, value)
        for name, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[name] = files.pop(value.removeprefix("attach://"), value)
        params.update(files)
    return params


_Handler = Callable[["FakeBot", dict[str, Any]], Awaitable[Any]]
_METHODS: dict[str, tuple[str, _Handler]] = {}


def _api(name: str) -> Callable[[_Handler], _Handler]:
    """Register a FakeBot coroutine as the implementation of Bot API method ``name``."""

    def register(handler: _Handler) -> _Handler:
        _METHODS[name.lower()] = (name, handler)
        return handler

    return register


class FakeBot:
    """One bot token on the fake server: its API behaviour and the test-side controls."""

    def __init__(self, server: FakeTelegram, token: str, username: str, first_name: str) -> None:
        self.token = token
        self.id = int(token.split(":")[0])
        self.username = username
        self.first_name = first_name
        self.sent: list[Call] = []
        self.payments: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.webhook_deliveries: list[tuple[int, int]] = []
        self._server = server
        self._closed = False
        self._changed = asyncio.Event()
        self._pending: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._poll_generation = 0
        self._users: dict[int, dict[str, Any]] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._invoices: dict[tuple[int, int], dict[str, Any]] = {}
        self._open_queries: dict[str, dict[str, Any]] = {}
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._blocked: set[int] = set()  # users who blocked the bot: sending to them is refused with 403
        self._deleted: set[int] = set()  # users who deleted their account: sending to them is refused with 400

    # ----- test side: inspecting calls -----------------------------------

    @property
    def unknown(self) -> list[Call]:
        """Calls to methods the fake does not implement (they were answered ``true``)."""
        return [call for call in self.sent if call.unknown]

    def calls(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        """Recorded calls, optionally filtered by method name and ``chat_id`` parameter."""
        return [
            call
            for call in self.sent
            if (method is None or call.method == method)
            and (chat_id is None or call.params.get("chat_id") == chat_id)
        ]

    def messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Current state of the messages the bot sent (edits applied, deleted ones gone)."""
        return [
            message
            for (chat, _), message in self._messages.items()
            if message["from"]["id"] == self.id and chat_id in (None, chat)
        ]

    def mark(self) -> int:
        """Return a position in `sent`; pass it as ``after=`` to `wait_for`."""
        return len(self.sent)

    async def wait_for(
        self,
        predicate: Callable[[Call], bool] | str,
        *,
        timeout: float = 5.0,
        after: int | None = None,
    ) -> Call:
        """Wait for a call matching ``predicate`` (a method name or a function).

        Only calls made after ``after`` (a `mark`; default: now) count.  Raises
        AssertionError listing the calls made meanwhile if none matches in time.
        """
        matches = (lambda call: call.method == predicate) if isinstance(predicate, str) else predicate
        start = self.mark() if after is None else after
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        checked = start
        while True:
            for call in self.sent[checked:]:
                if matches(call):
                    return call
            checked = len(self.sent)
            if loop.time() >= deadline:
                recent = [c for c in self.sent[start:] if c.method != "getUpdates"][-20:]
                dump = "\n".join(f"  {_describe(call)}" for call in recent) or "  (none)"
                raise AssertionError(f"no matching call within {timeout}s; calls since:\n{dump}")
            await self._wait_change(deadline - loop.time())

    # ----- test side: injecting updates ----------------------------------

    def send_message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """Inject a text message from a user and return the update.

        A leading ``/command`` gets a ``bot_command`` entity.  ``chat_id``
        defaults to the user's private chat (negative ids are groups).  Profile
        fields default to the user's last-known values, else ``U`` / ``en``.
        """
        user = self._user(user_id, first_name, username, language_code)
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0].encode("utf-16-le")) // 2
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        message = self._new_message(user_id if chat_id is None else chat_id, user, fields)
        return self._inject("message", message)

    def send_photo(
        self,
        user_id: int,
        *,
        caption: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """Inject a photo message (three fake sizes) from a user and return the update."""
        user = self._user(user_id, first_name, username, language_code)
        fields: dict[str, Any] = {"photo": _photo_sizes(_file_id())}
        if caption is not None:
            fields["caption"] = caption
        message = self._new_message(user_id if chat_id is None else chat_id, user, fields)
        return self._inject("message", message)

    def press_button(
        self,
        user_id: int,
        message: dict[str, Any] | int,
        data: str,
        *,
        chat_id: int | None = None,
        forged: bool = False,
    ) -> dict[str, Any]:
        """Inject a callback_query for a button of a message the bot sent; return the update.

        ``message`` is a message dict or a message_id in ``chat_id`` (default:
        the user's private chat).  The button must be on the message's current
        inline keyboard, as for a real user, unless ``forged`` (a crafted client
        sending any ``data``).
        """
        current = self._bot_message(message, user_id if chat_id is None else chat_id)
        if not forged and data not in [d for _, d in buttons(current) if d is not None]:
            raise AssertionError(f"message has no button {data!r}; buttons: {buttons(current)}")
        query = {
            "id": self._query_id(),
            "from": self._user(user_id),
            "message": copy.deepcopy(current),
            "chat_instance": str(current["chat"]["id"]),
            "data": data,
        }
        self._open_queries[query["id"]] = {"kind": "callback_query"}
        return self._inject("callback_query", query)

    def delete_account(self, user_id: int) -> None:
        """The user deletes their Telegram account: messages to them get 400 "chat not found" from then on."""
        self._deleted.add(user_id)

    def block(self, user_id: int, blocked: bool = True) -> None:
        """The user blocks the bot (or, with ``blocked=False``, unblocks it): messages to them get 403 Forbidden."""
        if blocked:
            self._blocked.add(user_id)
        else:
            self._blocked.discard(user_id)

    def checkout(
        self, user_id: int, invoice_message: dict[str, Any] | int, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """Inject a pre_checkout_query for an invoice the bot sent; return the update."""
        current = self._bot_message(invoice_message, user_id if chat_id is None else chat_id)
        invoice = self._invoices.get((current["chat"]["id"], current["message_id"]))
        if invoice is None:
            raise AssertionError(f"message {current['message_id']} is not an invoice")
        query = {
            "id": self._query_id(),
            "from": self._user(user_id),
            "currency": invoice["currency"],
            "total_amount": invoice["total_amount"],
            "invoice_payload": invoice["payload"],
        }
        chat_id = current["chat"]["id"]
        self._open_queries[query["id"]] = {"kind": "pre_checkout_query", "chat_id": chat_id, **query}
        return self._inject("pre_checkout_query", query)

    # ----- test side: the Star ledger ------------------------------------

    _failing_refunds = 0  # refundStarPayment calls still to answer with an error (`fail_next_refunds`)
    _refund_error = ""

    def fail_next_refunds(self, count: int, description: str = "Internal Server Error: try again later") -> None:
        """Answer the next ``count`` refundStarPayment calls with HTTP 500 and ``description``, refunding nothing."""
        self._failing_refunds, self._refund_error = count, description

    def record_star_payment(self, user_id: int, payload: str, amount: int) -> dict[str, Any]:
        """Put a paid Stars invoice in the ledger without delivering its successful_payment (the bot died first)."""
        payment = {
            "currency": "XTR",
            "total_amount": amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": f"stx{secrets.token_urlsafe(24)}",
            "provider_payment_charge_id": "",
            "user_id": self._user(user_id)["id"],
            "chat_id": user_id,
            "refunded": False,
            "at": time.time(),
        }
        self.payments.append(payment)
        return payment

    def _fail_refund_if_asked(self) -> None:
        if self._failing_refunds > 0:
            self._failing_refunds -= 1
            raise ApiError(500, self._refund_error)

    def _star_transactions(self) -> list[dict[str, Any]]:
        """The ledger as StarTransaction objects, oldest first: Stars payments in, their refunds out."""
        stars = {p["telegram_payment_charge_id"]: p for p in self.payments if p["currency"] == "XTR"}

        def partner(payment: dict[str, Any]) -> dict[str, Any]:
            return {"type": "user", "transaction_type": "invoice_payment", "user": self._user(payment["user_id"]),
                    "invoice_payload": payment["invoice_payload"]}

        entries = [(p.get("at", 0), {"id": charge, "amount": p["total_amount"], "date": int(p.get("at", 0)), "source": partner(p)})
                   for charge, p in stars.items()]
        entries += [(r["at"], {"id": r["telegram_payment_charge_id"], "amount": stars[r["telegram_payment_charge_id"]]["total_amount"],
                               "date": int(r["at"]), "receiver": partner(stars[r["telegram_payment_charge_id"]])})
                    for r in self.refunds]
        return [entry for _, entry in sorted(entries, key=lambda item: item[0])]

    # ----- internals -----------------------------------------------------

    def _notify(self) -> None:
        """Wake everything waiting on this bot (pollers, webhook sender, wait_for)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, timeout: float | None) -> None:
        with suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # not wait_for, which can swallow a cancellation on Python 3.11
                await self._changed.wait()

    def _close(self) -> None:
        self._closed = True
        if self._webhook_task is not None:
            self._webhook_task.cancel()
        self._notify()

    def _query_id(self) -> str:
        return f"{self.id}{next(self._query_ids):08d}"

    def _user(
        self,
        user_id: int,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        user = self._users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": "U", "language_code": "en"}
        )
        given = {"first_name": first_name, "username": username, "language_code": language_code}
        user.update({key: value for key, value in given.items() if value is not None})
        return dict(user)

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            return {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}
        user = self._users.get(chat_id, {"first_name": "U"})
        chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
        return chat

    def _me(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    def _new_message(self, chat_id: int, sender: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        if sender["id"] == self.id and chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if sender["id"] == self.id and chat_id in self._deleted:
            raise ApiError(400, "Bad Request: chat not found")
        message_id = next(self._message_ids.setdefault(chat_id, itertools.count(1)))
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": sender,
            **fields,
        }
        self._messages[(chat_id, message_id)] = message
        return message

    def _bot_message(self, message: dict[str, Any] | int, chat_id: int) -> dict[str, Any]:
        if isinstance(message, dict):
            chat_id, message = message["chat"]["id"], message["message_id"]
        current = self._messages.get((chat_id, message))
        if current is None or current["from"]["id"] != self.id:
            raise AssertionError(f"bot sent no message {message} in chat {chat_id} (or it was deleted)")
        return current

    def _inject(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: payload}
        self._pending.append(update)
        self._notify()
        return update

    async def _call(self, name: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Run one API method, record it and return ``(http_status, response_body)``."""
        at = time.time()
        known = _METHODS.get(name.lower())
        if known is None:
            call = Call(name, params, True, at, unknown=True)
            body: dict[str, Any] = {"ok": True, "result": True}
            status = 200
        else:
            method, handler = known
            try:
                result = await handler(self, params)
            except ApiError as error:
                call = Call(method, params, None, at, error=error.description)
                body = {"ok": False, "error_code": error.code, "description": error.description}
                status = error.code
            else:
                call = Call(method, params, copy.deepcopy(result), at)
                body = {"ok": True, "result": result}
                status = 200
        self.sent.append(call)
        self._notify()
        return status, body

    async def _deliver_webhook(self) -> None:
        """POST pending updates, oldest first, to the webhook URL (no retries)."""
        while True:
            if not self._pending:
                await self._wait_change(None)
                continue
            update = self._pending[0]
            headers = {}
            if self.webhook["secret_token"]:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
            try:
                post = self._server.session.post(self.webhook["url"], json=update, headers=headers)
                async with post as resp:
                    status = resp.status
                    reason = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError) as error:
                status, reason = 0, f"Connection failed: {error!r}"
            self._pending = [u for u in self._pending if u is not update]
            self.webhook_deliveries.append((update["update_id"], status))
            if not 200 <= status < 300:
                self._webhook_error = (int(time.time()), reason)

    # ----- Bot API methods -----------------------------------------------

    @_api("getMe")
    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._me(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @_api("getUpdates")
    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int(params, "offset", 0)
        if offset < 0:
            self._pending = self._pending[offset:]
        elif offset:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        limit = min(max(_int(params, "limit", 100), 1), 100)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # terminates an older long poll
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(_int(params, "timeout", 0), 0)
        while not self._pending and not self._closed and loop.time() < deadline:
            await self._wait_change(deadline - loop.time())
            if self._poll_generation != generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
        return self._pending[:limit]

    @_api("setWebhook")
    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if not url:
            return await self._delete_webhook(params)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ApiError(400, "Bad Request: bad webhook: the fake only delivers to loopback http(s) URLs")
        secret = params.get("secret_token") or ""
        if secret and not _SECRET_RE.match(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {"url": url, "secret_token": secret}
        self._webhook_error = None
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._deliver_webhook())
        self._notify()
        return True

    @_api("deleteWebhook")
    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    @_api("getWebhookInfo")
    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook:
            info["max_connections"] = 40
        if self._webhook_error:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    @_api("sendMessage")
    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        text = _visible_text(_require(params, "text"), params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        fields: dict[str, Any] = {"text": text}
        if markup := _inline_markup(params):
            fields["reply_markup"] = markup
        return self._new_message(chat_id, self._me(), fields)

    @_api("sendPhoto")
    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        photo = _require(params, "photo")
        fields: dict[str, Any] = {"photo": _photo_sizes(photo if isinstance(photo, str) else _file_id())}
        if "caption" in params:
            fields["caption"] = _visible_text(params["caption"], params.get("parse_mode"))
            if len(fields["caption"]) > 1024:
                raise ApiError(400, "Bad Request: message caption is too long")
        if markup := _inline_markup(params):
            fields["reply_markup"] = markup
        return self._new_message(chat_id, self._me(), fields)

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: the fake does not support inline messages")
        message = self._messages.get((_chat_id(params), _int(params, "message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.id:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    @_api("editMessageText")
    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = _visible_text(_require(params, "text"), params.get("parse_mode"))
        markup = _inline_markup(params)
        if text == message["text"] and markup == message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        message["text"] = text
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    @_api("editMessageReplyMarkup")
    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        markup = _inline_markup(params)
        if markup == message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    @_api("deleteMessage")
    async def _delete_message(self, params: dict[str, Any]) -> bool:
        if self._messages.pop((_chat_id(params), _int(params, "message_id")), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    @_api("answerCallbackQuery")
    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query = self._open_queries.get(str(_require(params, "callback_query_id")))
        if query is None or query["kind"] != "callback_query":
            raise ApiError(400, _QUERY_INVALID)
        del self._open_queries[str(params["callback_query_id"])]
        return True

    @_api("sendInvoice")
    async def _send_invoice(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        title, description = _require(params, "title"), _require(params, "description")
        payload, currency = _require(params, "payload"), _require(params, "currency")
        prices = _require(params, "prices")
        if not isinstance(prices, list) or not all(
            isinstance(p, dict) and isinstance(p.get("amount"), int) and p.get("label") for p in prices
        ):
            raise ApiError(400, "Bad Request: can't parse prices JSON object")
        if currency == "XTR":
            if params.get("provider_token"):
                raise ApiError(400, "Bad Request: provider_token must be empty for Telegram Stars")
            if len(prices) != 1:
                raise ApiError(400, "Bad Request: prices must contain exactly one item for Telegram Stars")
        elif not params.get("provider_token"):
            raise ApiError(400, "Bad Request: PAYMENT_PROVIDER_INVALID")
        total = sum(p["amount"] for p in prices)
        if total <= 0:
            raise ApiError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        fields: dict[str, Any] = {
            "invoice": {
                "title": title,
                "description": description,
                "start_parameter": params.get("start_parameter", ""),
                "currency": currency,
                "total_amount": total,
            }
        }
        if markup := _inline_markup(params):
            fields["reply_markup"] = markup
        message = self._new_message(chat_id, self._me(), fields)
        self._invoices[(chat_id, message["message_id"])] = {
            "payload": payload,
            "currency": currency,
            "total_amount": total,
        }
        return message

    @_api("answerPreCheckoutQuery")
    async def _answer_pre_checkout_query(self, params: dict[str, Any]) -> bool:
        query_id = str(_require(params, "pre_checkout_query_id"))
        query = self._open_queries.get(query_id)
        if query is None or query["kind"] != "pre_checkout_query":
            raise ApiError(400, _QUERY_INVALID)
        ok = params.get("ok")
        if not ok and not params.get("error_message"):
            raise ApiError(400, "Bad Request: error_message is empty")
        del self._open_queries[query_id]
        if ok:
            self._pay(query)
        return True

    def _pay(self, query: dict[str, Any]) -> None:
        """Complete a payment: record it and deliver the successful_payment message."""
        successful_payment = {
            "currency": query["currency"],
            "total_amount": query["total_amount"],
            "invoice_payload": query["invoice_payload"],
            "telegram_payment_charge_id": f"stx{secrets.token_urlsafe(24)}",
            "provider_payment_charge_id": "" if query["currency"] == "XTR" else f"prv{secrets.token_hex(8)}",
        }
        user = self._user(query["from"]["id"])
        self.payments.append({
            **successful_payment,
            "user_id": user["id"],
            "chat_id": query["chat_id"],
            "refunded": False,
            "at": time.time(),
        })
        message = self._new_message(query["chat_id"], user, {"successful_payment": successful_payment})
        self._inject("message", message)

    @_api("refundStarPayment")
    async def _refund_star_payment(self, params: dict[str, Any]) -> bool:
        self._fail_refund_if_asked()
        user_id = _int(params, "user_id")
        charge_id = _require(params, "telegram_payment_charge_id")
        payment = next(
            (
                p
                for p in self.payments
                if (p["telegram_payment_charge_id"], p["user_id"], p["currency"]) == (charge_id, user_id, "XTR")
            ),
            None,
        )
        if payment is None:
            raise ApiError(400, "Bad Request: CHARGE_NOT_FOUND")
        if payment["refunded"]:
            raise ApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        payment["refunded"] = True
        self.refunds.append({"user_id": user_id, "telegram_payment_charge_id": charge_id, "at": time.time()})
        return True

    @_api("getStarTransactions")
    async def _get_star_transactions(self, params: dict[str, Any]) -> dict[str, Any]:
        offset = max(_int(params, "offset", 0), 0)
        limit = min(max(_int(params, "limit", 100), 1), 100)
        return {"transactions": self._star_transactions()[offset:offset + limit]}

    @_api("setMyCommands")
    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = _require(params, "commands")
        for command in commands:
            description = command.get("description", "")
            if not _COMMAND_RE.match(command.get("command", "")) or not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        return True

    @_api("getChat")
    async def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._chat(_chat_id(params)),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    @_api("close")
    async def _close_method(self, params: dict[str, Any]) -> bool:
        return True

    @_api("logOut")
    async def _log_out(self, params: dict[str, Any]) -> bool:
        return True


def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup


def _file_id() -> str:
    return "AgAC" + secrets.token_urlsafe(24)


def _photo_sizes(file_id: str) -> list[dict[str, Any]]:
    """Three PhotoSize dicts, the largest carrying ``file_id``."""
    sizes = [(90, 67), (320, 240), (1280, 960)]
    return [
        {
            "file_id": file_id if index == len(sizes) - 1 else f"{file_id}_{width}",
            "file_unique_id": f"AQAD{file_id[-10:]}{width}",
            "width": width,
            "height": height,
            "file_size": width * height // 8,
        }
        for index, (width, height) in enumerate(sizes)
    ]


def _describe(call: Call) -> str:
    params = {key: value for key, value in call.params.items() if key != "chat_id"}
    outcome = f"-> {call.error}" if call.error else ("(unknown method)" if call.unknown else "")
    shown = json.dumps(params, default=repr)[:200]
    return f"{call.method} chat_id={call.params.get('chat_id')} {shown} {outcome}"


class FakeTelegram:
    """A fake Bot API server on 127.0.0.1 (random free port) hosting any number of bots."""

    def __init__(self) -> None:
        self.base_url = ""
        self._bots: dict[str, FakeBot] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """HTTP client used for webhook deliveries (available while running)."""
        if self._session is None:
            raise RuntimeError("FakeTelegram is not running")
        return self._session

    async def start(self) -> str:
        """Start serving and return the base URL (``http://127.0.0.1:PORT``)."""
        app = web.Application(client_max_size=50 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving: release long polls, cancel webhook deliveries, close sockets."""
        tasks = [bot._webhook_task for bot in self._bots.values() if bot._webhook_task]
        for bot in self._bots.values():
            bot._close()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def add_bot(
        self, token: str | None = None, *, username: str = "test_bot", first_name: str = "Test"
    ) -> FakeBot:
        """Register a bot; a realistic ``<id>:<35 chars>`` token is generated when omitted."""
        if token is None:
            while token is None or token in self._bots:
                secret = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(35))
                token = f"{secrets.randbelow(9 * 10**9) + 10**9}:{secret}"
        elif not _TOKEN_RE.match(token):
            raise ValueError(f"malformed bot token {token!r}")
        elif token in self._bots:
            raise ValueError("bot token already registered")
        bot = FakeBot(self, token, username, first_name)
        self._bots[token] = bot
        return bot

    def remove_bot(self, token: str) -> None:
        """Unregister a bot: its later requests get 401 Unauthorized."""
        self._bots.pop(token)._close()

    async def _handle(self, request: web.Request) -> web.Response:
        bot = self._bots.get(request.match_info["token"])
        if bot is None:
            body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        status, body = await bot._call(request.match_info["method"], await _read_params(request))
        return web.json_response(body, status=status)
