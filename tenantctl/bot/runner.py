"""`tenantctl bot run`: the master bot and every active tenant bot in one process.

A supervisor re-reads the `bots` table every few seconds (or at once when nudged): new active
tenants start, suspended/expired/cancelled ones stop, a rotated token restarts its bot. Updates
come by long polling (the default) or by webhook, one path per bot (`/webhook/{bot_id}`) checked
against that bot's secret-token header. Tokens never appear in URLs we publish or in logs.

A successful_payment is in the payment inbox before Telegram learns it arrived: polling waits for
its handling before the next getUpdates, a webhook answers 200 only once the row is there (500
otherwise, so Telegram delivers it again). Every `reconcile_interval` the supervisor reconciles each running
bot's Star ledger (the master's, and each tenant's for its end users) with the inbox, settling whatever a crash
left open.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramUnauthorizedError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import ErrorEvent, Update
from aiohttp import web
from sqlalchemy import select

import tenantctl.models  # noqa: F401 (every table, so foreign keys across domains resolve)
from tenantctl.api.app import add_api_routes
from tenantctl.billing.inbox import is_recorded
from tenantctl.billing.models import STARS
from tenantctl.billing.storefront import ORDER_PAYLOAD
from tenantctl.bot.locales import pick_language, t
from tenantctl.bot.middlewares import (
    ConversationMiddleware,
    DbSessionMiddleware,
    DraftMiddleware,
    FeatureGateMiddleware,
    LanguageMiddleware,
)
from tenantctl.bot.routers import (
    admin_panel,
    dashboard,
    master_admin,
    payments,
    registration,
    renewals,
    storefront,
)
from tenantctl.bot.storage import make_storage
from tenantctl.core.app import App
from tenantctl.core.crypto import SecretBox, constant_time_equal
from tenantctl.core.db import utcnow
from tenantctl.core.errors import ConfigError
from tenantctl.customers.panel import PanelClient
from tenantctl.customers.provisioning import PANEL_CONCURRENCY, Provisioned, mark_link_sent, open_panel, run_panel_jobs, unsent_links
from tenantctl.customers.renewals import AUTO_RENEWAL, due_reminders, mark_blocked, remind_days
from tenantctl.flags.gate import FeatureGate
from tenantctl.flags.live import FlagWatcher
from tenantctl.flags.usage import UsageFlusher
from tenantctl.onboarding.payments import Settled, reconcile
from tenantctl.tenants.models import Bot as BotRow
from tenantctl.tenants.overrides import expire_overrides
from tenantctl.tenants.telegram import StarsAccount, scrub_tokens

log = logging.getLogger(__name__)
MAX_CONCURRENT_UPDATES = 10  # below the connection pool's 15: an update's follow-ups (settling a payment) need one more
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PAYMENT_UPDATE_GRACE = timedelta(minutes=2)  # a Stars charge this recent is left to its update, not recorded from the ledger


def _payment_charge(update: Update) -> str | None:
    """The charge id of a successful_payment update (None for any other update)."""
    payment = update.message.successful_payment if update.message is not None else None
    return payment.telegram_payment_charge_id if payment is not None else None


@dataclass(frozen=True)
class BotInfo:
    """What handlers need to know about the bot an update came to (a snapshot of its row)."""

    id: int
    is_master: bool
    name: str
    default_language: str
    support_username: str | None
    owner_telegram_id: int | None
    webhook_secret: str = field(repr=False)
    token_fingerprint: str = field(repr=False)


@dataclass
class Running:
    info: BotInfo
    bot: Bot
    task: asyncio.Task[None] | None = None
    handlers: set[asyncio.Task[Any]] = field(default_factory=set)


@dataclass(frozen=True)
class WebhookConfig:
    public_url: str
    host: str = "127.0.0.1"
    port: int = 8080


@functools.cache
def _response_model(method: type[TelegramMethod[Any]]) -> type[Response[Any]]:
    return Response[method.__returning__]


class ClientSession(AiohttpSession):
    """aiogram's aiohttp session, holding on to the model each method's answer is read with.

    aiogram reads every answer with `Response[<the method's result type>]`, a parametrized pydantic generic that pydantic
    caches only weakly: each full garbage collection frees it, and the next call builds its schema again (1-20 ms).
    Held here, each is built once per process.
    """

    def check_response(self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str) -> Response[Any]:
        _response_model(type(method))
        return super().check_response(bot, method, status_code, content)


def make_client(api_server: str, token: str) -> Bot:
    """An aiogram client for one bot on the Bot API server at `api_server`."""
    return Bot(token, session=ClientSession(api=TelegramAPIServer.from_base(api_server)))


def _info(row: BotRow, box: SecretBox) -> BotInfo:
    return BotInfo(row.id, row.is_master, row.name, row.default_language, row.support_username,
                   row.owner_telegram_id, box.webhook_secret(row.id), row.token_fingerprint)


async def _on_error(event: ErrorEvent, lang: str = "en") -> None:
    """An unexpected failure: logged (tokens masked), the user told to try again.

    It runs outside the update's unit of work (ErrorsMiddleware wraps every other middleware),
    so the transaction has been rolled back and the outbox discarded by the time this is sent.
    """
    log.error("update %s failed: %s", event.update.update_id, scrub_tokens(f"{type(event.exception).__name__}: {event.exception}"))
    update = event.update
    message = update.message or (update.callback_query.message if update.callback_query else None)
    try:
        if update.pre_checkout_query is not None:
            await update.pre_checkout_query.answer(ok=False, error_message=t(lang, "unexpected"))
        elif message is not None:
            await message.answer(t(lang, "unexpected"))
    except TelegramAPIError:
        pass


def build_dispatchers(app: App, storage: BaseStorage, gate: FeatureGate, runner: Any = None) -> tuple[Dispatcher, Dispatcher]:
    """The master bot's dispatcher (payments, renewals, the receipt review, the admin panel, /my_bots, registration) and the
    tenant bots' one (payments, the dashboard, the storefront).

    Neither reads the FSM state on every update (ConversationMiddleware): no handler is routed by it. The handlers that
    keep data in it read it themselves, in the update's transaction. On the master bot the durable draft routes a
    registration: DraftMiddleware reads the draft and language instead.
    """
    master = Dispatcher(storage=storage, events_isolation=SimpleEventIsolation(), disable_fsm=True, app=app, runner=runner)
    master.include_routers(payments.router.build(), renewals.router.build(), master_admin.router.build(), admin_panel.router.build(),
                           dashboard.router.build(), registration.router.build())
    tenants = Dispatcher(storage=storage, disable_fsm=True, app=app, runner=runner)
    tenants.include_routers(payments.router.build(), dashboard.router.build(), storefront.router.build())
    for dp in (master, tenants):
        dp.update.outer_middleware(ConversationMiddleware(dp.fsm))
        dp.update.outer_middleware(DbSessionMiddleware(app.sessions))
        dp.update.outer_middleware(FeatureGateMiddleware(gate))
        dp.errors.register(_on_error)
    master.update.outer_middleware(DraftMiddleware())
    tenants.update.outer_middleware(LanguageMiddleware())
    return master, tenants


class Runner:
    """Runs and supervises every bot; `start`, then `stop` (or `run` until a signal)."""

    def __init__(self, app: App, *, webhook: WebhookConfig | None = None, interval: float = 3.0, poll_timeout: int = 25,
                 housekeeping_interval: float = 60.0, reconcile_interval: float = 300.0, reminder_interval: float = 60.0,
                 payment_grace: timedelta = PAYMENT_UPDATE_GRACE, with_api: bool = False) -> None:
        self.app = app
        self.webhook = webhook
        self.with_api = with_api  # the tenant API on the webhook listener too
        self.interval = interval
        self.poll_timeout = poll_timeout
        self.housekeeping_interval = housekeeping_interval
        self._housekept_at = float("-inf")
        self.reconcile_interval = reconcile_interval
        self._reconciled_at = float("-inf")
        self.payment_grace = payment_grace  # how old a payment must be before reconcile takes it from its update
        self.reminder_interval = reminder_interval
        self._reminded_at = float("-inf")
        self.gate = FeatureGate(app.sessions, ttl=300.0)  # kept fresh by the watcher; the TTL is a backstop
        self.panel: PanelClient | None = None  # the operator's VPN panel, when configured
        self.flag_watcher = FlagWatcher([self.gate], app.settings.database_url)
        self.usage = UsageFlusher([self.gate], app.unit_of_work)  # flushed by housekeeping and at stop
        self.storage = make_storage(app.settings, app.sessions)
        self.master_dp, self.tenant_dp = build_dispatchers(app, self.storage, self.gate, runner=self)
        self.bots: dict[int, Running] = {}
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_UPDATES)
        self.unreadable: set[int] = set()  # bots not started: their token cannot be decrypted (logged once)
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._web: web.AppRunner | None = None
        self.webhook_port: int | None = None

    # ----- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the webhook server (if any), every active bot, and the supervisor."""
        if self.webhook is not None:
            await self._start_web()
        self.flag_watcher.start()
        try:
            async with self.app.unit_of_work() as session:
                self.panel = await open_panel(session, env=os.environ, box=self.app.secret_box)
        except ConfigError as exc:  # the bots run; subscriptions wait in the panel's queue until it is configured
            log.warning("VPN panel not used: %s", exc)
        await self.sync()
        if not any(r.info.is_master for r in self.bots.values()):
            await self.stop()
            raise ConfigError("no active master bot in the database: run `tenantctl master init` first")
        self._supervisor = asyncio.create_task(self._supervise(), name="supervisor")

    async def stop(self) -> None:
        """Stop supervising, stop every bot (letting in-flight updates finish), close everything."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        await asyncio.gather(*(self._stop_bot(bot_id, shutdown=True) for bot_id in list(self.bots)))
        await self.flag_watcher.stop()
        if self.panel is not None:
            await self.panel.close()
            self.panel = None
        await self.usage.stop()
        if self._web is not None:
            await self._web.cleanup()
            self._web = None
        await self.storage.close()

    async def run(self) -> None:
        """Start, wait for SIGINT/SIGTERM, then stop gracefully."""
        import signal

        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await self.start()
        log.info("running %d bot(s)%s", len(self.bots), " by webhook" if self.webhook else " by polling")
        try:
            await stopping.wait()
        finally:
            await self.stop()

    def nudge(self) -> None:
        """Ask the supervisor to re-read the bots table now (a tenant was created or renewed)."""
        self._wake.set()

    # ----- supervision ------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            try:  # not wait_for: on Python 3.11 it can swallow a cancellation that meets a nudge, and stop() then waits forever
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            for step in (self.sync, self._housekeeping, self._payments, self._provision, self._remind):
                try:
                    await step()
                except Exception as exc:  # keep supervising whatever one step hit: the others still run
                    log.error("supervisor: %s failed: %s", step.__name__.strip("_"), scrub_tokens(f"{type(exc).__name__}: {exc}"))

    async def _payments(self) -> None:
        """With the master bot running: deliver the renewals due, and reconcile the Star ledgers."""
        master = next((r for r in self.bots.values() if r.info.is_master), None)
        if master is not None:
            await renewals.deliver(master.bot, self.app)
            await self._reconcile(master.bot)

    async def _provision(self) -> None:
        """Make the due changes in the VPN panel, then send each new subscription's link from its own bot (and mark it sent)."""
        if self.panel is not None:
            await run_panel_jobs(self.app.sessions, panel=self.panel, now=utcnow())
        async with self.app.unit_of_work() as session:
            ready = await unsent_links(session)
        slots = asyncio.Semaphore(PANEL_CONCURRENCY)

        async def send(item: Provisioned) -> None:
            running = self.bots.get(item.bot_id)
            if running is None:  # the bot is stopped: the link goes out once it runs again
                return
            lang = pick_language(None, item.language_code)
            async with slots:
                try:
                    await running.bot.send_message(item.telegram_id, t(lang, "sf_link", date=item.end_date.date().isoformat(),
                                                                        url=item.subscription_url))
                except TelegramForbiddenError:  # blocked: the link waits in My subscription for their return
                    async with self.app.unit_of_work() as session:
                        await mark_blocked(session, bot_id=item.bot_id, telegram_id=item.telegram_id)
                        await mark_link_sent(session, job_id=item.job_id)
                    return
                except TelegramAPIError as exc:
                    log.warning("bot %s: the subscription link could not be sent: %s", item.bot_id, scrub_tokens(str(exc)))
                    return
                async with self.app.unit_of_work() as session:
                    await mark_link_sent(session, job_id=item.job_id)

        await asyncio.gather(*(send(item) for item in ready))

    async def _remind(self) -> None:
        """Every `reminder_interval` s: remind the end users of each running tenant bot whose subscription ends within the
        tenant's window (its auto_renewal config), from that bot; with auto_renewal on, with a Stars invoice."""
        now = asyncio.get_running_loop().time()
        if now - self._reminded_at < self.reminder_interval:
            return
        self._reminded_at = now
        tenants = [running.info.id for running in self.bots.values() if not running.info.is_master]
        for bot_id in tenants:
            await self.gate.load(bot_id)
        async with self.app.unit_of_work() as session:
            due = await due_reminders(session, windows={bot_id: remind_days(self.gate.config(bot_id, AUTO_RENEWAL)) for bot_id in tenants},
                                      now=utcnow())
        for item in due:
            running = self.bots.get(item.bot_id)
            if running is not None:  # the bot is stopped: its reminders go out once it runs again
                await storefront.send_reminder(running.bot, self.app, running.info, item,
                                               auto_renewal=self.gate.is_enabled(item.bot_id, AUTO_RENEWAL, item.telegram_id))

    async def _housekeeping(self) -> None:
        """Every `housekeeping_interval` s: write the flag usage counts, remove overrides past their expiry and drop
        their bots' cached flags.

        Other processes hear of it through the flag watcher; this one need not wait for it."""
        now = asyncio.get_running_loop().time()
        if now - self._housekept_at < self.housekeeping_interval:
            return
        self._housekept_at = now
        async with self.app.unit_of_work() as session:
            expired = await expire_overrides(session)
        for bot_id in {override.bot_id for override in expired}:
            self.gate.invalidate(bot_id)
        await self.usage.flush()

    async def _reconcile(self, master: Bot) -> None:
        """Every `reconcile_interval` s: settle the Stars payments still open, with each bot's Star ledger as the witness
        (the master's for the platform's payments, each tenant's for its end users'), make the refunds due from each, and
        tell the payers of the payments settled, from the bot each paid (one not running now cannot tell them)."""
        now = asyncio.get_running_loop().time()
        if now - self._reconciled_at < self.reconcile_interval:
            return
        self._reconciled_at = now
        bots = [master, *(r.bot for r in self.bots.values() if not r.info.is_master)]
        for bot in bots:
            try:
                report = await reconcile(self.app.sessions, ledger=StarsAccount(self.app.settings.telegram_api_server, bot.token),
                                         box=self.app.secret_box, settings=self.app.settings, actor="bot:reconcile",
                                         min_age=self.payment_grace)
            except Exception as exc:  # one ledger that cannot be read (a revoked token, Telegram down) holds up no other
                log.error("reconcile: bot %s failed: %s", bot.id, scrub_tokens(f"{type(exc).__name__}: {exc}"))
                continue
            for item in report.fixes:
                log.warning("reconcile: %s %s: %s", item["action"], item["charge_id"], item["detail"])
            for settled in report.settled:
                await self._tell_payer(settled)
            if any(item["action"] == "applied" for item in report.fixes):
                self.nudge()

    def _paid_bot(self, settled: Settled) -> Running | None:
        """The running bot a settled payment was paid to: a Stars payment's by its Telegram id; a card receipt's, the
        tenant's of its order, or the master's for the platform's own payloads (activations and renewals)."""
        row = settled.payment
        if row.bot_telegram_id is not None:
            return next((r for r in self.bots.values() if r.bot.id == row.bot_telegram_id), None)
        if settled.order is not None:
            return self.bots.get(settled.order.order.bot_id)
        if row.payload.startswith(ORDER_PAYLOAD):  # a refused card order: its tenant is not at hand
            return None
        return next((r for r in self.bots.values() if r.info.is_master), None)

    async def _tell_payer(self, settled: Settled) -> None:
        """Tell the payer of a payment reconcile settled, from the bot it was paid to, if that bot runs here."""
        running = self._paid_bot(settled)
        if running is None:
            log.warning("reconcile: the payer of %s not told: no running bot to tell them from", settled.payment.charge_id)
            return
        try:
            await payments.tell_reconciled(running.bot, self.app, settled, tenant_id=None if running.info.is_master else running.info.id,
                                           runner=self)
        except Exception as exc:  # the payment is settled either way; one payer who cannot be told holds up no other
            log.warning("reconcile: the payer of %s not told: %s", settled.payment.charge_id, scrub_tokens(f"{type(exc).__name__}: {exc}"))

    async def sync(self) -> None:
        """Make the running bots match the active rows of the bots table."""
        async with self.app.unit_of_work() as session:
            rows = (await session.scalars(select(BotRow).where(BotRow.status == "active"))).all()
            wanted = {row.id: (_info(row, self.app.secret_box), row.token_encrypted) for row in rows}
        for bot_id in list(self.bots):
            info = wanted.get(bot_id, (None,))[0]
            if info is None or info.token_fingerprint != self.bots[bot_id].info.token_fingerprint:
                await self._stop_bot(bot_id)
            else:
                self.bots[bot_id].info = info
        for bot_id, (info, token_encrypted) in wanted.items():
            if bot_id not in self.bots:
                try:
                    token = self.app.secret_box.decrypt(token_encrypted)
                except ConfigError:  # one unreadable row must not keep every other bot down
                    if bot_id not in self.unreadable:
                        log.error("bot %s (%s) not started: its token cannot be decrypted with %s",
                                  bot_id, info.name, self.app.secret_box.source)
                    self.unreadable.add(bot_id)
                    continue
                await self._start_bot(info, token)

    async def _start_bot(self, info: BotInfo, token: str) -> None:
        running = Running(info, make_client(self.app.settings.telegram_api_server, token))
        self.bots[info.id] = running
        if self.webhook is None:
            running.task = asyncio.create_task(self._poll(running), name=f"poll-{info.id}")
            log.info("bot %s (%s) started", info.id, info.name)
            return
        try:
            await running.bot.set_webhook(f"{self.webhook.public_url}/webhook/{info.id}", secret_token=info.webhook_secret,
                                          allowed_updates=self._allowed(info))
            log.info("bot %s (%s) started (webhook)", info.id, info.name)
        except TelegramAPIError as exc:
            log.error("bot %s: setWebhook failed: %s", info.id, scrub_tokens(str(exc)))

    async def _stop_bot(self, bot_id: int, *, shutdown: bool = False) -> None:
        running = self.bots.pop(bot_id)
        if running.task is not None:
            running.task.cancel()
            await asyncio.gather(running.task, return_exceptions=True)
        if running.handlers:
            await asyncio.wait(running.handlers, timeout=10)
        if self.webhook is not None and not shutdown:
            try:
                await running.bot.delete_webhook()
            except TelegramAPIError as exc:
                log.warning("bot %s: deleteWebhook failed: %s", bot_id, scrub_tokens(str(exc)))
        await running.bot.session.close()
        log.info("bot %s (%s) stopped", bot_id, running.info.name)

    def _dispatcher(self, info: BotInfo) -> Dispatcher:
        return self.master_dp if info.is_master else self.tenant_dp

    def _allowed(self, info: BotInfo) -> list[str]:
        return self._dispatcher(info).resolve_used_update_types()

    def _feed(self, running: Running, update: Update) -> asyncio.Task[Any]:
        """Handle one update in its own task (kept so a stop can let it finish)."""
        info = running.info
        extra = {} if info.is_master else {"tenant": info}
        task = asyncio.create_task(self._handle(self._dispatcher(info), running.bot, update, extra))
        running.handlers.add(task)
        task.add_done_callback(running.handlers.discard)
        return task

    async def _handle(self, dispatcher: Dispatcher, bot: Bot, update: Update, extra: dict[str, Any]) -> Any:
        """One update, once a slot is free: at most MAX_CONCURRENT_UPDATES hold a database connection at a time, the
        rest wait here rather than for the connection pool (whose wait times out)."""
        async with self._slots:
            return await dispatcher.feed_update(bot, update, **extra)

    # ----- polling ----------------------------------------------------------------------------

    async def _poll(self, running: Running) -> None:
        """Long-poll getUpdates; on stop, acknowledge what was handed out so a restart does not repeat it."""
        offset: int | None = None
        backoff = 1.0
        allowed = self._allowed(running.info)
        try:
            while True:
                try:
                    call = GetUpdates(offset=offset, timeout=self.poll_timeout, allowed_updates=allowed)
                    updates = await running.bot(call, request_timeout=self.poll_timeout + 10)
                    backoff = 1.0
                except TelegramUnauthorizedError:
                    log.error("bot %s (%s): Telegram rejects its token; retrying in 60 s", running.info.id, running.info.name)
                    await asyncio.sleep(60)
                    continue
                except (TelegramAPIError, OSError, asyncio.TimeoutError) as exc:
                    log.warning("bot %s: getUpdates failed: %s", running.info.id, scrub_tokens(f"{type(exc).__name__}: {exc}"))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30)
                    continue
                payments = []
                for update in updates:
                    offset = update.update_id + 1
                    task = self._feed(running, update)
                    if _payment_charge(update):
                        payments.append(task)
                # money is in the inbox before the next getUpdates tells Telegram these updates arrived
                await asyncio.gather(*payments, return_exceptions=True)
        finally:
            if offset is not None:
                try:
                    await asyncio.shield(running.bot(GetUpdates(offset=offset, timeout=0, limit=1), request_timeout=5))
                except (TelegramAPIError, OSError, asyncio.TimeoutError, asyncio.CancelledError):
                    pass

    # ----- webhook ----------------------------------------------------------------------------

    async def _start_web(self) -> None:
        webapp = web.Application()
        webapp.router.add_post("/webhook/{bot_id}", self._webhook_update)
        if self.with_api:  # its flag watcher and usage flusher start in the runner's setup and stop in its cleanup
            add_api_routes(webapp, self.app)
        self._web = web.AppRunner(webapp, access_log=None)
        await self._web.setup()
        site = web.TCPSite(self._web, self.webhook.host, self.webhook.port)
        try:
            await site.start()
        except OSError as exc:
            await self._web.cleanup()
            self._web = None
            raise ConfigError(f"cannot listen on {self.webhook.host}:{self.webhook.port}: {exc.strerror or exc}") from None
        self.webhook_port = self._web.addresses[0][1]
        if self.with_api:
            log.info("tenant API on the webhook listener, port %s", self.webhook_port)

    async def _webhook_update(self, request: web.Request) -> web.Response:
        """One update for one bot: 404 for an unknown bot, 401 for a wrong secret, else handled."""
        bot_id = request.match_info["bot_id"]
        running = self.bots.get(int(bot_id)) if bot_id.isdigit() else None
        if running is None:
            return web.Response(status=404, text="unknown bot")
        if not constant_time_equal(request.headers.get(SECRET_HEADER, ""), running.info.webhook_secret):
            return web.Response(status=401, text="wrong secret token")
        try:
            update = Update.model_validate(await request.json(), context={"bot": running.bot})
        except ValueError:
            return web.Response(status=400, text="not an update")
        task = self._feed(running, update)
        charge_id = _payment_charge(update)
        if charge_id is None:
            return web.Response(text="ok")
        # a payment is answered 200 only once it is in the inbox; otherwise Telegram delivers it again
        await asyncio.gather(asyncio.shield(task), return_exceptions=True)
        async with self.app.unit_of_work() as session:
            recorded = await is_recorded(session, method=STARS, charge_id=charge_id)
        return web.Response(text="ok") if recorded else web.Response(status=500, text="payment not recorded yet")
