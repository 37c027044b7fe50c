"""What `tenantctl sandbox` runs: the demo platform on the fake Bot API, and one person chatting with its bots as
any Telegram user, one line of input at a time.

`open_world` makes a temporary folder with a SQLite database, builds the demo into it (plus one master card, so
card-to-card can be tried as well as Stars), starts a `FakeTelegram` on 127.0.0.1 and hosts every bot's token on
it. The bot runner sits above this package, so the adapter starts it on `World.app`. `Chat` turns each input line
into what a Telegram client would send (a message, a button press, a photo, a payment), waits for the bots to
answer, and reports what they did through `say(text, kind)`. Nothing here talks to the real Telegram.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from tenantctl.core.app import App
from tenantctl.core.errors import Invalid
from tenantctl.core.money import format_money
from tenantctl.core.settings import SQLITE_PREFIX, Settings
from tenantctl.customers.cards import add_card
from tenantctl.demo.service import EXAMPLE_ENV, build_demo
from tenantctl.flags.keys import PANEL_API_KEY_KEY, PANEL_URL_KEY
from tenantctl.tenants.models import Bot, BotConfiguration
from tenantctl.testing.fake_remnawave import FakeRemnawave
from tenantctl.testing.fake_telegram import Call, FakeBot, FakeTelegram

ADMIN = 1000  # the sandbox's MASTER_ADMIN_IDS
FIRST_NEW_USER = 2001  # the users the bots have never seen: 2001, 2002, ...
ACTOR = "sandbox"
MASTER_CARD = {"number": "6037991122334455", "holder": "Sandbox Operator", "bank": "Demo Bank"}
ANSWER_TIMEOUT = 8.0  # seconds to wait for the first answer to an input
QUIET = 0.4  # an answer is complete once the bots have been quiet this long after a message...
ACK_QUIET = 2.0  # ...or this long after a bare acknowledgement (a button's spinner stopped, a payment accepted)
# Bot API calls that are not part of any conversation: the runner's polling and start-up, the ledger
_BACKGROUND = frozenset({
    "getUpdates", "getMe", "getChat", "setMyCommands", "deleteMyCommands", "setWebhook", "deleteWebhook",
    "getWebhookInfo", "getStarTransactions", "close", "logOut",
})
NOTHING, ACK, MESSAGE = 0, 1, 2  # what a batch of calls amounted to: nothing, only acknowledgements, something to read
_NEEDS = {":send": "TEXT", ":press": "N, MSG.N or a button's text", ":bot": "N or @username", ":user": "a user id or new"}

HELP = """\
Type a message or a /command and it goes to the current bot as the current user. Sandbox commands:
  N                 press button N of the bot's last message (when that message has N buttons; else N is sent as text)
  :press N          press button N of the latest message that has buttons (also :press MSG.N, or :press TEXT of a label)
  :send TEXT        send TEXT as it is (a number, or a line starting with ':')
  :pay              pay the latest invoice (pre-checkout, then the successful payment)
  :photo [CAPTION]  send a picture (a card-to-card receipt)
  :bots, :bot N     list the bots, talk to bot N (or :bot @username)
  :users, :user ID  list useful users (admin, tenant owners), become user ID (or :user new)
  :newbot           host a new bot on the fake Bot API and send its token (what /register_tenant asks at step 2)
  :help, :quit      this help; stop (so do Ctrl-D and Ctrl-C)"""
HELP_LINE = "type a message or /command; N presses button N; :pay, :photo, :bots, :bot N, :users, :user ID, :newbot, :help, :quit"

Say = Callable[[str, str], None]  # (text, kind); kind is "bot", "buttons", "note" or "error"


@dataclass
class World:
    """The sandbox's platform: the demo in a throwaway database, and the fake Bot API hosting its bots."""

    app: App
    fake: FakeTelegram
    folder: str
    master: FakeBot
    bots: dict[int, FakeBot]  # by Telegram id: every bot the fake hosts
    _minted: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def mint_bot(self) -> FakeBot:
        """A new bot on the fake Bot API, whose token /register_tenant accepts."""
        number = next(self._minted)
        fbot = self.fake.add_bot(username=f"sandbox_{number}_vpn_bot", first_name=f"Sandbox {number} VPN")
        self.bots[fbot.id] = fbot
        return fbot

    async def rows(self) -> list[Bot]:
        """Every bot of the platform, the master first (then in the order they were created)."""
        async with self.app.unit_of_work() as session:
            return list((await session.scalars(select(Bot).order_by(Bot.is_master.desc(), Bot.id))).all())


def sandbox_settings(folder: str, api_server: str) -> Settings:
    """Settings of a sandbox: everything in `folder`, the Bot API at `api_server`, `ADMIN` the master admin."""
    return Settings(database_url=f"{SQLITE_PREFIX}{folder}/sandbox.db", key_file=f"{folder}/secret.key", data_dir=folder,
                    master_admin_ids=frozenset({ADMIN}), telegram_api_server=api_server)


@asynccontextmanager
async def open_world(*, now: datetime) -> AsyncIterator[World]:
    """The demo built into a temporary folder, its bots hosted by a fake Bot API, its VPN panel a fake one; all of it gone on exit."""
    with tempfile.TemporaryDirectory(prefix="tenantctl-sandbox-") as folder:
        async with FakeTelegram() as fake, FakeRemnawave() as panel:
            app = await App.open(sandbox_settings(folder, fake.base_url))
            try:
                async with app.unit_of_work() as session:
                    report = await build_demo(session, box=app.secret_box, env_path=str(EXAMPLE_ENV), actor=ACTOR, now=now)
                    await add_card(session, bot_id=report.master.id, actor=ACTOR, **MASTER_CARD)
                    for key, value, secret in ((PANEL_URL_KEY, panel.url, None),  # the operator's VPN panel: the fake one
                                               (PANEL_API_KEY_KEY, None, app.secret_box.encrypt(panel.api_key))):
                        await session.merge(BotConfiguration(bot_id=report.master.id, config_key=key, value=value, encrypted_value=secret,
                                                             source="master"))
                    hosted = [(app.secret_box.decrypt(row.token_encrypted), row.username, row.name)
                              for row in (report.master, *(tenant.bot for tenant in report.tenants))]
                fbots = [fake.add_bot(token, username=username, first_name=name) for token, username, name in hosted]
                yield World(app=app, fake=fake, folder=folder, master=fbots[0], bots={fbot.id: fbot for fbot in fbots})
            finally:
                await app.close()


def _inline_buttons(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return (message.get("reply_markup") or {}).get("inline_keyboard") or []


def _flat(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [button for row in _inline_buttons(message) for button in row]


def _chat_of(call: Call) -> int | None:
    """The chat a call writes to (None: an answer to the user's own query, or no chat at all)."""
    chat = call.params.get("chat_id", call.params.get("user_id"))
    try:
        return int(chat) if chat is not None else None
    except (TypeError, ValueError):
        return None


def _is_answer(call: Call, lines: list[tuple[str, str]]) -> bool:
    """Whether a call shows something to read (a message, a popup, a refusal), not only an acknowledgement."""
    if not lines or call.method == "deleteMessage":
        return False
    return not (call.method == "answerPreCheckoutQuery" and call.params.get("ok") and not call.error)


class Chat:
    """One person at a Telegram client: who they are, which bot they talk to, and what the bots said to them."""

    def __init__(self, world: World, say: Say, *, user: int | None = None, language: str = "en") -> None:
        self.world, self.say, self.language = world, say, language
        self._new_users = itertools.count(FIRST_NEW_USER)
        self._fresh: list[int] = []  # the new users made so far
        self.user = self._new_user() if user is None else user
        self.bot = world.master
        self._seen = {bot_id: len(fbot.sent) for bot_id, fbot in world.bots.items()}
        self._unread: dict[tuple[int, int], list[tuple[str, str]]] = {}

    def _new_user(self) -> int:
        user = next(self._new_users)
        self._fresh.append(user)
        return user

    # ----- input --------------------------------------------------------------------------------

    async def handle(self, text: str) -> bool:
        """Act on one input line and show the bots' answers; False once the person asked to quit."""
        text = text.strip()
        command, _, rest = text.partition(" ")
        rest = rest.strip()
        try:
            if command in _NEEDS and not rest:
                raise Invalid(f"{command} needs {_NEEDS[command]} (:help)")
            if not text:
                self.show_new()
            elif command == ":quit":
                return False
            elif command == ":help":
                self.say(HELP, "note")
            elif command == ":send":
                await self.send(rest)
            elif command == ":press":
                await self.press(rest)
            elif command == ":pay":
                await self.pay()
            elif command == ":photo":
                await self.photo(rest or None)
            elif command == ":bots":
                await self.list_bots()
            elif command == ":bot":
                await self.switch_bot(rest)
            elif command == ":users":
                await self.list_users()
            elif command == ":user":
                await self.switch_user(rest)
            elif command == ":newbot":
                await self.new_bot()
            elif text.startswith(":"):
                self.say(f"not a sandbox command: {text} (:help lists them; :send {text} sends it to the bot)", "error")
            elif text.isdigit() and 0 < int(text) <= len(self._buttons_of_last()):
                await self.press(text)
            else:
                await self.send(text)
        except Invalid as exc:
            self.say(str(exc), "error")
        return True

    async def send(self, text: str) -> None:
        """Send `text` to the current bot as the current user."""
        self.bot.send_message(self.user, text, language_code=self.language)
        await self.settle()

    async def press(self, spec: str) -> None:
        """Press a button: `N` on the latest message with buttons, `MSG.N` on message MSG, else by its label."""
        message, number = self._find_button(spec)
        button = _flat(message)[number - 1]
        where = f"[{number}] {button['text']} on #{message['message_id']}"
        if "callback_data" not in button:
            kind = next((key for key in button if key != "text"), "plain")
            link = f" ({button['url']})" if "url" in button else ""
            self.say(f"{where} is a {kind} button{link}: only a callback button reaches the bot", "note")
            return
        self.say(f"(you pressed {where})", "note")
        self.bot.press_button(self.user, message, button["callback_data"])
        await self.settle()

    async def pay(self) -> None:
        """Pay the latest invoice of this chat, as Telegram does: a pre-checkout query, then the successful payment."""
        invoices = [m for m in self._messages() if "invoice" in m]
        if not invoices:
            raise Invalid("no invoice in this chat to pay")
        invoice = invoices[-1]
        details = invoice["invoice"]
        self.say(f"(you pay {format_money(details['total_amount'], details['currency'])} for #{invoice['message_id']} "
                 f"{details['title']})", "note")
        self.bot.checkout(self.user, invoice)
        await self.settle(acks_answer=False)  # accepting the payment is not the answer: handling the payment is

    async def photo(self, caption: str | None) -> None:
        """Send a picture (with `caption`) to the current bot."""
        self.bot.send_photo(self.user, caption=caption, language_code=self.language)
        self.say("(you sent a picture" + (f": {caption})" if caption else ")"), "note")
        await self.settle()

    async def new_bot(self) -> None:
        """Host a new bot on the fake Bot API and send its token, as someone pasting it from @BotFather would."""
        fbot = self.world.mint_bot()
        self._seen[fbot.id] = 0
        self.say(f"(a new bot on the fake Bot API: @{fbot.username}; you send its token)", "note")
        await self.send(fbot.token)

    # ----- who and where ------------------------------------------------------------------------

    async def list_bots(self) -> None:
        """Say every bot, numbered for :bot N."""
        for number, row in enumerate(await self.world.rows(), 1):
            current = "  <- you are here" if row.telegram_id == self.bot.id else ""
            kind = "master" if row.is_master else "tenant"
            self.say(f"  {number}. @{row.username}  {row.name}  ({kind}, {row.status}){current}", "note")

    async def switch_bot(self, spec: str) -> None:
        """Talk to bot `spec`: its number in :bots or its @username."""
        row = await self._select(spec)
        state = "" if row.status == "active" else f"; it is {row.status}, so it is not running and will not answer"
        self.say(f"now talking to @{row.username} ({row.name}{state})", "note")
        self._read_unread()

    async def start(self, *, bot: str | None = None) -> None:
        """Begin at bot `bot` (default: the master) and say who the person is and where."""
        row = await self._select(bot) if bot else next(r for r in await self.world.rows() if r.is_master)
        self.say(f"you are user {self.user} ({await self._role()}), talking to @{row.username} ({row.name})", "note")

    async def _select(self, spec: str) -> Bot:
        """Make bot `spec` (its number in :bots or its @username) the current one; its row."""
        rows = await self.world.rows()
        wanted = spec.removeprefix("@").lower()
        if spec.isdigit():
            row = rows[int(spec) - 1] if 0 < int(spec) <= len(rows) else None
        else:
            row = next((r for r in rows if (r.username or "").lower() == wanted), None)
        if row is None or row.telegram_id not in self.world.bots:
            raise Invalid(f"no bot {spec}: :bots lists {len(rows)}")
        self.bot = self.world.bots[row.telegram_id]
        return row

    async def list_users(self) -> None:
        """Say the users worth being: the master admin, every tenant's owner, the new users so far."""
        for user, role in await self._roles():
            self.say(f"  {user:<10} {role}" + ("  <- you" if user == self.user else ""), "note")
        self.say("  :user new  a user the bots have never seen", "note")

    async def switch_user(self, spec: str) -> None:
        """Become user `spec` (a Telegram user id, or `new`)."""
        if spec == "new":
            user = self._new_user()
        elif spec.isdigit() and 0 < int(spec) < 2**63:
            user = int(spec)
        else:
            raise Invalid(f"{spec!r} is not a Telegram user id (or `new`)")
        self.user = user
        self.say(f"you are user {user} now: {await self._role()}", "note")
        self._read_unread()

    async def _role(self) -> str:
        return next((role for user, role in await self._roles() if user == self.user), "a user")

    async def _roles(self) -> list[tuple[int, str]]:
        roles = [(ADMIN, "master admin (MASTER_ADMIN_IDS)")]
        roles += [(row.owner_telegram_id, f"owner of {row.name} (@{row.username})")
                  for row in await self.world.rows() if row.owner_telegram_id is not None]
        roles += [(user, "a new user") for user in self._fresh if user not in dict(roles)]
        return roles

    # ----- what the bots do ---------------------------------------------------------------------

    async def settle(self, *, acks_answer: bool = True) -> None:
        """Show the bots' answers as they come, until they are quiet (or nothing came within the timeout).

        Without `acks_answer`, acknowledgements alone do not end the wait: it lasts until something to read.
        """
        loop = asyncio.get_running_loop()
        deadline = quiet_after = loop.time() + ANSWER_TIMEOUT
        got = NOTHING
        while True:
            arrived = self.show_new()
            now = loop.time()
            if arrived == MESSAGE or (arrived == ACK and acks_answer):
                got = max(got, arrived)
                quiet_after = now + (QUIET if got == MESSAGE else ACK_QUIET)
            if now >= min(quiet_after, deadline):
                break
            await asyncio.sleep(0.05)
        if got == NOTHING:
            self.say(f"(no answer within {ANSWER_TIMEOUT:g} s)", "note")

    def show_new(self) -> int:
        """Show what the bots did since last time: NOTHING, only an ACK, or a MESSAGE (someone has something to read)."""
        arrived = NOTHING
        for bot_id, fbot in list(self.world.bots.items()):
            calls = fbot.sent[self._seen.get(bot_id, 0):]
            self._seen[bot_id] = self._seen.get(bot_id, 0) + len(calls)
            for call in calls:
                if call.method in _BACKGROUND:
                    continue
                chat = _chat_of(call) or self.user  # no chat: an answer to this user's button or payment
                lines = self._render(call)
                if chat == self.user and fbot is self.bot:
                    for text, kind in lines:
                        self.say(text, kind)
                elif lines:
                    self._unread.setdefault((bot_id, chat), []).extend(lines)
                    switch = [] if chat == self.user else [f":user {chat}"]
                    switch += [] if fbot is self.bot else [f":bot @{fbot.username}"]
                    self.say(f"(a message from @{fbot.username} for user {chat}: {', then '.join(switch)} shows it)", "note")
                arrived = max(arrived, MESSAGE if _is_answer(call, lines) else ACK)
        return arrived

    def _read_unread(self) -> None:
        lines = self._unread.pop((self.bot.id, self.user), [])
        if lines:
            self.say("unread:", "note")
        for text, kind in lines:
            self.say(text, kind)

    def _render(self, call: Call) -> list[tuple[str, str]]:
        """What a person sees of one Bot API call (nothing for a quiet one)."""
        params, result = call.params, call.result
        if call.error:
            return [(f"(the bot's {call.method} failed: {call.error})", "error")]
        if call.method == "sendMessage":
            return self._message(f"#{result['message_id']}", result["text"], result)
        if call.method == "editMessageText":
            return self._message(f"#{result['message_id']} (edited)", result["text"], result)
        if call.method == "sendPhoto":
            caption = result.get("caption")
            return self._message(f"#{result['message_id']} [picture]", caption or "(no caption)", result)
        if call.method == "editMessageReplyMarkup":
            return self._message(f"#{result['message_id']} (new buttons)", "", result) if _flat(result) else []
        if call.method == "sendInvoice":
            invoice = result["invoice"]
            text = (f"{invoice['title']}: {invoice['description']}\n"
                    f"{format_money(invoice['total_amount'], invoice['currency'])}  (:pay pays it)")
            return self._message(f"#{result['message_id']} [invoice]", text, result)
        if call.method == "deleteMessage":
            return [(f"(the bot deleted message #{params['message_id']})", "note")]
        if call.method == "answerCallbackQuery":
            text = params.get("text")
            return [(f"({'alert' if params.get('show_alert') else 'notice'}) {text}", "bot")] if text else []
        if call.method == "answerPreCheckoutQuery":
            if params.get("ok"):
                return [("(the bot accepted the payment; Telegram sends it the successful payment)", "note")]
            return [(f"(the bot refused the payment: {params.get('error_message')})", "error")]
        if call.method == "refundStarPayment":
            return [(f"(the bot refunded the Stars payment {params.get('telegram_payment_charge_id')})", "note")]
        return [(f"(the bot called {call.method})", "note")]

    @staticmethod
    def _message(header: str, text: str, message: dict[str, Any]) -> list[tuple[str, str]]:
        lines = [(f"bot {header}: {text}".rstrip().replace("\n", "\n    "), "bot")]
        number = itertools.count(1)
        for row in _inline_buttons(message):
            labels = [f"[{next(number)}] {button['text']}" + ("" if "callback_data" in button else " (link)") for button in row]
            lines.append(("    " + "   ".join(labels), "buttons"))
        return lines

    # ----- the chat's messages ------------------------------------------------------------------

    def _messages(self) -> list[dict[str, Any]]:
        """The current bot's messages in this chat as they are now (edits applied), oldest first."""
        return sorted(self.bot.messages(self.user), key=lambda message: message["message_id"])

    def _buttons_of_last(self) -> list[dict[str, Any]]:
        messages = self._messages()
        return _flat(messages[-1]) if messages else []

    def _find_button(self, spec: str) -> tuple[dict[str, Any], int]:
        """(message, button number) for `N`, `MSG.N` or a label's text, looked for from the newest message."""
        with_buttons = [message for message in reversed(self._messages()) if _flat(message)]
        if not with_buttons:
            raise Invalid("no message in this chat has buttons")
        ref, dot, index = spec.partition(".")
        if spec.isdigit() or (dot and ref.lstrip("#").isdigit() and index.isdigit()):
            number = int(index if dot else spec)
            if dot:
                message = next((m for m in with_buttons if m["message_id"] == int(ref.lstrip("#"))), None)
                if message is None:
                    raise Invalid(f"message #{ref.lstrip('#')} has no buttons now")
            else:
                message = with_buttons[0]
            if not 0 < number <= len(_flat(message)):
                raise Invalid(f"#{message['message_id']} has {len(_flat(message))} button(s), not {number}")
            return message, number
        label = spec.casefold()
        for message in with_buttons:
            for number, button in enumerate(_flat(message), 1):
                if label in button["text"].casefold():
                    return message, number
        raise Invalid(f"no button reads {spec!r}")
