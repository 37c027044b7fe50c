"""The tenant storefront under load: `/start` plus a menu button for many users across many tenant bots, in one process.

50 tenant bots sell on one fake Remnawave panel (Stars, card to card, the trial, referrals, support tickets: the full
menu). 1,000 users, spread evenly over the bots, each send `/start` and, once the menu arrived, press "My subscription";
a round ends when every user's second answer was sent (2,000 updates). The real runner (`tenantctl bot run`: DB-session
middleware, feature gate, language, FSM storage, the supervisor) polls the project's fake Bot API. In the same run a bare
aiogram Dispatcher gets the same load: its own 50 bots on the same fake server, with the runner's Bot API client
(`make_client`), polled by aiogram's `start_polling` (a long poll per bot, a task per update: what the runner does), one handler answering `/start` with a static text and
an inline keyboard of the menu's shape (same labels, same callback data) and one answering the button as the storefront
does (answerCallbackQuery, then a message with a Menu button). Each round uses new users; the first round of each side
is cold (connections, flag caches). Reported: the median round, as updates/s, the storefront's time over the bare
dispatcher's, and the process's CPU time per update on each side (the whole process: bot, fake server and load alike).

Then purchase-to-link with the fake panel: buyers walk Buy → plan → Telegram Stars up to the invoice, then the clock runs
from the checkout (pre_checkout_query injected) to the "Your subscription is ready" message with the panel's link (the
time the bot sent it, as the fake recorded it). N purchases one at a time (one per tenant, round robin), then N more
all at once; p50 and p95 of each.

    .venv/bin/python bench/storefront.py [--database sqlite|postgresql|both] [--tenants 50] [--users 1000]
                                         [--rounds 3] [--purchases 50]

SQLite: a throwaway file. PostgreSQL: a throwaway database created and dropped on the server of
TENANTCTL_BENCH_DATABASE_URL (default: the local trust-auth server, postgresql+psycopg://root@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiogram
from aiogram import Dispatcher, F
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from tenantctl.billing.models import STARS
from tenantctl.bot.locales import t
from tenantctl.bot.routers.storefront import METHODS, Shop, ShopDo
from tenantctl.bot.runner import Runner, make_client
from tenantctl.core.app import App
from tenantctl.core.db import create_engine
from tenantctl.core.migrate import upgrade
from tenantctl.core.settings import Settings
from tenantctl.customers.models import BotPlan, TenantPaymentCard
from tenantctl.flags.models import Feature
from tenantctl.plans.service import create_plan
from tenantctl.tenants.master import register_master
from tenantctl.tenants.models import BotConfiguration
from tenantctl.tenants.service import provision_tenant
from tenantctl.tenants.telegram import BotIdentity
from tenantctl.testing.fake_remnawave import FakeRemnawave
from tenantctl.testing.fake_telegram import Call, FakeBot, FakeTelegram, buttons

SERVER = os.environ.get("TENANTCTL_BENCH_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
OWNER = 1
MY, MENU = Shop(do=ShopDo.MY).pack(), Shop(do=ShopDo.MENU).pack()


def features() -> list[Feature]:
    """The catalogue the storefront's menu is built from, all on: the longest menu."""
    return [
        Feature(key="telegram_stars", env_key="TELEGRAM_STARS_ENABLED", category="payment_gateways", kind="switch", default_enabled=True),
        Feature(key="card_to_card", env_key="CARD_TO_CARD_ENABLED", category="payment_methods", kind="switch", default_enabled=True),
        Feature(key="trial_subscription", env_key="TRIAL_SUBSCRIPTION_ENABLED", category="subscription_features", kind="switch",
                default_enabled=True, default_config={"TRIAL_DURATION_DAYS": 3, "TRIAL_TRAFFIC_LIMIT_GB": 10, "TRIAL_DEVICE_LIMIT": 1},
                config_keys=["TRIAL_DURATION_DAYS", "TRIAL_TRAFFIC_LIMIT_GB", "TRIAL_DEVICE_LIMIT"]),
        Feature(key="referral_program", env_key="REFERRAL_PROGRAM_ENABLED", category="marketing", kind="switch", default_enabled=True,
                default_config={"REFERRAL_INVITER_BONUS_KOPEKS": 5000}, config_keys=["REFERRAL_INVITER_BONUS_KOPEKS"]),
        Feature(key="support_tickets", env_key="SUPPORT_TICKETS_MODE", category="support", kind="mode", default_enabled=True,
                default_value="both", allowed_values=["disabled", "tickets", "contact", "both"]),
    ]


def bare_dispatcher() -> Dispatcher:
    """aiogram alone: `/start` answered with a static menu of the storefront's shape, "My subscription" as the storefront does."""
    menu = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t("en", label), callback_data=Shop(do=do).pack())]
                                                 for label, do in (("sf_btn_buy", ShopDo.PLANS), ("sf_btn_trial", ShopDo.TRIAL),
                                                                   ("sf_btn_my", ShopDo.MY), ("sf_btn_invite", ShopDo.INVITE),
                                                                   ("sf_btn_support", ShopDo.SUPPORT))])
    back = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t("en", "sf_btn_menu"), callback_data=MENU)]])
    greeting = f"{t('en', 'tenant_welcome', name='Bare')}\n{t('en', 'tenant_support', support='@help')}"
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(greeting, reply_markup=menu)

    @dp.callback_query(Shop.filter(F.do == ShopDo.MY))  # the storefront's kind of filter: F.data == MY would cost a thread hop
    async def mine(query: CallbackQuery) -> None:
        await query.answer()
        await query.bot.send_message(query.from_user.id, t("en", "sf_none"), reply_markup=back)

    return dp


async def polling(bots: list[FakeBot]) -> None:
    """Until every bot has long-polled once (a 1 s poll: it is recorded when it returns), so start-up is not timed."""
    await asyncio.gather(*(fbot.wait_for("getUpdates", after=0, timeout=30) for fbot in bots))


async def visit(fbot: FakeBot, users: list[int]) -> tuple[float, int]:
    """Each user sends /start, then presses "My subscription" under the menu. Returns when the last answer was sent, and
    how many answers were an error (a menu without the button, an answer without the Menu button) rather than the screen."""
    checked = fbot.mark()
    for user in users:
        fbot.send_message(user, "/start")
    menu_due, answer_due, last, failed = set(users), set(users), 0.0, 0
    while answer_due:
        await fbot.wait_for("sendMessage", after=checked, timeout=120)
        end = len(fbot.sent)
        for call in fbot.sent[checked:end]:
            if call.method != "sendMessage" or not call.ok:
                continue
            user, data = call.params["chat_id"], [d for _, d in buttons(call)]
            if user in menu_due:
                menu_due.discard(user)
                if MY in data:
                    fbot.press_button(user, call.result, MY)
                    continue
                failed += 1
            elif user not in answer_due:
                continue
            elif MENU not in data:
                failed += 1
            answer_due.discard(user)
            last = call.at
        checked = end
    return last, failed


async def load_round(bots: list[FakeBot], first_user: int, users: int) -> tuple[float, int, float]:
    """One round of `users` new users spread over `bots`: seconds from the first /start to the last answer, the failed
    updates, and the CPU seconds the process (bot, fake server and this client) spent on the round."""
    spread: list[list[int]] = [[] for _ in bots]
    for n in range(users):
        spread[n % len(bots)].append(first_user + n)
    started, cpu = time.time(), time.process_time()
    ends = await asyncio.gather(*(visit(fbot, ids) for fbot, ids in zip(bots, spread) if ids))
    return max(end for end, _ in ends) - started, sum(failed for _, failed in ends), time.process_time() - cpu


async def ask(fbot: FakeBot, user: int, act: Callable[[], Any], method: str = "sendMessage") -> Call:
    mark = fbot.mark()
    act()
    return await fbot.wait_for(lambda c: c.ok and c.method == method and c.params.get("chat_id") == user, after=mark, timeout=60)


async def invoice_for(fbot: FakeBot, user: int, plan_id: int) -> Call:
    """Buy → the plan → Telegram Stars, as a user presses them; returns the invoice."""
    menu = await ask(fbot, user, lambda: fbot.send_message(user, "/start"))
    plans = await ask(fbot, user, lambda: fbot.press_button(user, menu.result, Shop(do=ShopDo.PLANS).pack()))
    plan = await ask(fbot, user, lambda: fbot.press_button(user, plans.result, Shop(do=ShopDo.PLAN, a=plan_id).pack()))
    pay = Shop(do=ShopDo.PAY, a=plan_id, b=METHODS.index(STARS)).pack()
    return await ask(fbot, user, lambda: fbot.press_button(user, plan.result, pay), "sendInvoice")


async def purchase(fbot: FakeBot, user: int, invoice: Call, link_prefix: str) -> float:
    """Seconds from the checkout to the message carrying the panel's subscription link."""
    mark = fbot.mark()
    started = time.time()
    fbot.checkout(user, invoice.result)
    link = await fbot.wait_for(lambda c: c.ok and c.method == "sendMessage" and c.params.get("chat_id") == user
                               and link_prefix in c.params.get("text", ""), after=mark, timeout=120)
    return link.at - started


def percentiles(seconds: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50_ms": round(statistics.median(seconds) * 1000, 1), "p95_ms": round(cuts[94] * 1000, 1),
            "max_ms": round(max(seconds) * 1000, 1)}


async def set_up(app: App, fake: FakeTelegram, panel: FakeRemnawave, workdir: Path, tenants: int) -> list[tuple[FakeBot, int]]:
    """The master (with the panel in its configuration) and `tenants` selling tenant bots; returns each one's fake bot and plan."""
    master = fake.add_bot(username="master_bot", first_name="Master")
    env = workdir / "master.env"
    env.write_text(f"BOT_TOKEN={master.token}\nDEFAULT_LANGUAGE=en\n")
    shops = []
    async with app.unit_of_work() as session:
        report = await register_master(session, token=master.token, env_path=str(env), box=app.secret_box, actor="bench",
                                       identity=BotIdentity(master.id, master.username, master.first_name))
        session.add_all([BotConfiguration(bot_id=report.bot.id, config_key="REMNAWAVE_API_URL", value=panel.url, source="master"),
                         BotConfiguration(bot_id=report.bot.id, config_key="REMNAWAVE_API_KEY", value=None, source="master",
                                          encrypted_value=app.secret_box.encrypt(panel.api_key))])
        session.add_all(features())
        await session.flush()
        await create_plan(session, name="shop", monthly_price_kopeks=100_000, actor="bench")
        for n in range(tenants):
            fbot = fake.add_bot(username=f"shop{n}_bot", first_name=f"Shop {n}")
            result = await provision_tenant(session, name=f"Shop {n}", token=fbot.token, owner_telegram_id=OWNER, plan="shop",
                                            box=app.secret_box, actor="bench", identity=BotIdentity(fbot.id, fbot.username, fbot.first_name),
                                            language="en", support_username="@help")
            plan = BotPlan(bot_id=result.bot.id, name="Month", period_days=30, price_kopeks=29_900, traffic_limit_gb=100, device_limit=3)
            session.add_all([plan, TenantPaymentCard(bot_id=result.bot.id, card_number="4111111111111111", holder_name=f"Owner {n}")])
            await session.flush()
            shops.append((fbot, plan.id))
    return shops


async def bench(database_url: str, workdir: Path, tenants: int, users: int, rounds: int, purchases: int) -> dict:
    engine = create_engine(database_url)
    await upgrade(engine)
    await engine.dispose()
    async with FakeTelegram() as fake, FakeRemnawave() as panel:
        settings = Settings(database_url=database_url, secret_key=Fernet.generate_key().decode(), telegram_api_server=fake.base_url,
                            key_file=str(workdir / "key"))
        app = await App.open(settings)
        try:
            shops = await set_up(app, fake, panel, workdir, tenants)
            bots = [fbot for fbot, _ in shops]
            runner = Runner(app, poll_timeout=1)
            await runner.start()
            try:
                await polling(bots)
                storefront = [await load_round(bots, 100_000 + r * users, users) for r in range(rounds)]
                buyers = [(shops[n % tenants], 900_000 + n) for n in range(2 * purchases)]
                link_prefix = f"{panel.url}/api/sub/"
                one_at_a_time = []
                for (fbot, plan_id), user in buyers[:purchases]:
                    one_at_a_time.append(await purchase(fbot, user, await invoice_for(fbot, user, plan_id), link_prefix))
                invoices = await asyncio.gather(*(invoice_for(fbot, user, plan_id) for (fbot, plan_id), user in buyers[purchases:]))
                all_at_once = await asyncio.gather(*(purchase(fbot, user, invoice, link_prefix)
                                                     for ((fbot, _), user), invoice in zip(buyers[purchases:], invoices)))
            finally:
                await runner.stop()
        finally:
            await app.close()

        bare_bots = [fake.add_bot(username=f"bare{n}_bot", first_name=f"Bare {n}") for n in range(tenants)]
        dp = bare_dispatcher()
        task = asyncio.create_task(dp.start_polling(*(make_client(fake.base_url, fbot.token) for fbot in bare_bots), polling_timeout=1,
                                                    handle_signals=False))
        try:
            await polling(bare_bots)
            bare = [await load_round(bare_bots, 100_000 + r * users, users) for r in range(rounds)]
        finally:
            await dp.stop_polling()
            await task

    updates = 2 * users
    shop_median, bare_median = statistics.median(s for s, _, _ in storefront), statistics.median(s for s, _, _ in bare)
    shop_cpu, bare_cpu = (statistics.median(cpu for _, _, cpu in rounds) / updates * 1000 for rounds in (storefront, bare))
    return {"bench": "storefront", "backend": "postgresql" if database_url.startswith("postgresql") else "sqlite",
            "tenants": tenants, "users": users, "updates_per_round": updates,
            "storefront_rounds_s": [round(s, 3) for s, _, _ in storefront], "bare_rounds_s": [round(s, 3) for s, _, _ in bare],
            "storefront_failed_updates": [failed for _, failed, _ in storefront], "bare_failed_updates": [failed for _, failed, _ in bare],
            "storefront_cpu_ms_per_update": round(shop_cpu, 2), "bare_cpu_ms_per_update": round(bare_cpu, 2),
            "storefront_updates_per_second": round(updates / shop_median, 1), "bare_updates_per_second": round(updates / bare_median, 1),
            "time_ratio": round(shop_median / bare_median, 2), "purchases": purchases,
            "purchase_to_link_one_at_a_time": percentiles(one_at_a_time), "purchase_to_link_all_at_once": percentiles(all_at_once),
            "platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(), "aiogram": aiogram.__version__}


async def run(database: str, workdir: Path, args: argparse.Namespace) -> dict:
    import psycopg

    from tenantctl.flags.live import libpq_url

    if database == "sqlite":
        return await bench(f"sqlite+aiosqlite:///{workdir / 'bench.db'}", workdir, args.tenants, args.users, args.rounds, args.purchases)
    name = f"tenantctl_storefront_{os.getpid()}"
    with psycopg.connect(libpq_url(SERVER), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
        return await bench(url, workdir, args.tenants, args.users, args.rounds, args.purchases)
    finally:
        with psycopg.connect(libpq_url(SERVER), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main(args: argparse.Namespace) -> None:
    for database in (("sqlite", "postgresql") if args.database == "both" else (args.database,)):
        with tempfile.TemporaryDirectory() as tmp:
            result = await run(database, Path(tmp), args)
        print(json.dumps(result))
        single, burst = result["purchase_to_link_one_at_a_time"], result["purchase_to_link_all_at_once"]
        print(f"{result['backend']}: storefront {result['storefront_updates_per_second']} updates/s, bare aiogram "
              f"{result['bare_updates_per_second']} updates/s ({result['users']} users × 2 updates over {result['tenants']} bots, "
              f"median of {len(result['bare_rounds_s'])} rounds, {sum(result['storefront_failed_updates'])} storefront updates failed): "
              f"{result['time_ratio']}× its time; CPU per update {result['storefront_cpu_ms_per_update']} ms against "
              f"{result['bare_cpu_ms_per_update']} ms; purchase to link "
              f"p50 {single['p50_ms']} ms / p95 {single['p95_ms']} ms one at a time, p50 {burst['p50_ms']} ms / p95 {burst['p95_ms']} ms "
              f"{result['purchases']} at once; on {result['platform']}, {result['cpus']} CPUs, Python {result['python']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--purchases", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
