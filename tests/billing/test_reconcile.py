"""`tenantctl billing reconcile | refunds | verify | tick` through the real Typer app, against the fake Bot API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tenantctl.billing.models import PlatformPayment, PlatformRefund
from tenantctl.core.app import open_app
from tenantctl.core.db import utcnow
from tenantctl.core.settings import Settings
from tenantctl.onboarding import service as reg
from tenantctl.plans.models import TenantSubscriptionPlan
from tenantctl.tenants.models import Bot
from tenantctl.tenants.telegram import BotIdentity
from tenantctl.testing.fake_telegram import FakeBot, FakeTelegram
from tests.tenants.support import MASTER_TOKEN, tenant_token
from tests.tenants.test_cli import invoke, ok, platform, refused  # noqa: F401 (platform is a fixture)

USER = 3001
STARTER_STARS = -(-100_000 // 150)  # the starter plan's activation fee in Stars


@pytest.fixture
def master(cli_env, platform, monkeypatch) -> Iterator[tuple[FakeBot, Callable[..., Any]]]:  # noqa: F811
    """The fake Bot API on a thread of its own, serving the registered master's token; and a way to call into its loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeTelegram()

    def call(fn: Callable[..., Any], *args: Any) -> Any:
        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(10)

    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    monkeypatch.setenv("TELEGRAM_API_SERVER", server.base_url)
    monkeypatch.setenv("MASTER_BOT_TOKEN", MASTER_TOKEN)
    try:
        yield call(server.add_bot, MASTER_TOKEN), call
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def in_db(settings: Settings, work: Callable[..., Any]) -> Any:
    """Run `work(session, app)` in one transaction on the test database."""
    async def go() -> Any:
        async with open_app(settings) as app, app.unit_of_work() as session:
            return await work(session, app)

    return asyncio.run(go())


def register(settings: Settings, n: int) -> int:
    """A registration on the starter plan waiting for its Stars; its id."""
    async def work(s, app) -> int:
        box = app.secret_box
        draft, _ = await reg.start_registration(s, telegram_user_id=USER, current=None)
        await reg.set_bot_name(s, draft=draft, telegram_user_id=USER, name=f"Shop {n}")
        await reg.set_token(s, registration_id=draft.id, telegram_user_id=USER, token=tenant_token(n), box=box,
                            identity=BotIdentity(2000000000 + n, f"shop{n}_bot", f"Shop {n}"))
        await reg.set_language(s, draft=draft, telegram_user_id=USER, language="en")
        await reg.set_support(s, draft=draft, telegram_user_id=USER, username=None)
        plan_id = await s.scalar(select(TenantSubscriptionPlan.id).where(TenantSubscriptionPlan.name == "starter"))
        await reg.set_plan(s, draft=draft, telegram_user_id=USER, plan_id=plan_id)
        await reg.choose_payment(s, draft=draft, telegram_user_id=USER, method=reg.STARS, settings=settings)
        await reg.confirm(s, draft=draft, telegram_user_id=USER, box=box, actor="test")
        return draft.id

    return in_db(settings, work)


def tenants_and_payments(settings: Settings) -> tuple[int, int]:
    async def work(s, _app) -> tuple[int, int]:
        bots = await s.scalar(select(func.count()).select_from(Bot).where(Bot.is_master.is_(False)))
        paid = await s.scalar(select(func.count()).select_from(PlatformPayment).where(PlatformPayment.status == "succeeded"))
        return bots, paid

    return in_db(settings, work)


def reconcile() -> dict[str, Any]:
    return json.loads(ok("billing", "reconcile", "--json").stdout)


def test_a_charge_never_received_becomes_exactly_one_tenant(settings, master) -> None:
    fbot, call = master
    registration = register(settings, 1)
    charge = call(fbot.record_star_payment, USER, f"reg:{registration}", STARTER_STARS)  # the bot died before its inbox write
    assert tenants_and_payments(settings) == (0, 0)
    assert "0 discrepancies" in ok("billing", "verify").output  # nothing recorded: nothing to check

    first = reconcile()
    assert first["transactions"] == 1
    assert [(f["action"], f["charge_id"]) for f in first["fixes"]] == [("recorded", charge["telegram_payment_charge_id"]),
                                                                       ("applied", charge["telegram_payment_charge_id"])]
    assert tenants_and_payments(settings) == (1, 1)
    assert reconcile() == {"transactions": 1, "fixes": []}  # again: nothing changes
    assert tenants_and_payments(settings) == (1, 1)
    human = ok("billing", "reconcile").output
    assert "reconcile done: 1 Star transactions read, 0 action(s)" in human
    assert "0 discrepancies" in ok("billing", "verify").output


def test_a_refund_that_fails_is_retried_by_tick_and_listed(settings, master) -> None:
    fbot, call = master
    charge = call(fbot.record_star_payment, USER, "reg:999", 50)["telegram_payment_charge_id"]  # an invoice nobody knows
    call(fbot.fail_next_refunds, 1)
    lines = ok("billing", "reconcile").output
    assert lines.splitlines()[:3] == [
        f"recorded: {charge}: 50 XTR from user {USER} for reg:999, never received: recorded",
        f"refund_opened: {charge}: 50 XTR from user {USER} for reg:999 to be refunded: no registration 999",
        (f"refund_retry: {charge}: refund 1 of 50 XTR: attempt 1 failed (refundStarPayment failed: Internal Server Error: try again "
         f"later); next at {lines.split('next at ')[1][:25]}")]
    [pending] = json.loads(ok("billing", "refunds", "--json").stdout)
    assert (pending["status"], pending["attempts"], pending["amount"], pending["currency"]) == ("pending", 1, 50, "XTR")
    assert "Internal Server Error" in pending["last_error"] and "next attempt" in ok("billing", "refunds").output

    async def due_now(s, _app) -> None:  # the backoff has passed
        await s.execute(update(PlatformRefund).values(next_attempt_at=utcnow()))

    in_db(settings, due_now)
    ticked = json.loads(ok("billing", "tick", "--json").stdout)
    assert [f["action"] for f in ticked["reconcile"]["fixes"]] == ["refunded"] and ticked["reconcile_skipped"] is None
    assert [r["telegram_payment_charge_id"] for r in fbot.refunds] == [charge]
    [done] = json.loads(ok("billing", "refunds", "--status", "done", "--json").stdout)
    assert (done["id"], done["attempts"], done["done_at"] is not None) == (1, 2, True)
    assert "1 refund(s)" in ok("billing", "refunds").output
    assert reconcile()["fixes"] == [] and tenants_and_payments(settings) == (0, 0) and len(fbot.refunds) == 1
    assert "0 discrepancies" in ok("billing", "verify").output
    refused("billing", "refunds", "--status", "lost", code=2, message="--status must be one of pending, done, failed")


def test_verify_reports_a_planted_discrepancy(settings, cli_env, platform) -> None:  # noqa: F811
    async def plant(s, _app) -> None:
        s.add(PlatformPayment(purpose="activation", method="manual", status="succeeded", amount_minor=100_000, external_id="PLANTED"))

    in_db(settings, plant)
    result = invoke("billing", "verify")
    assert result.exit_code == 1, result.output
    assert "effect: activation payment 1 (1 000.00 RUB) activated no tenant" in result.output
    assert "sum: activation payments total 1 000.00 RUB, the fees of the tenants they activated 0.00 RUB" in result.output
    assert "2 discrepancies" in result.output
    assert [i["check"] for i in json.loads(invoke("billing", "verify", "--json").stdout)["discrepancies"]] == ["effect", "sum"]


def test_reconcile_needs_the_master_bots_token(settings, cli_env, platform, monkeypatch) -> None:  # noqa: F811
    monkeypatch.delenv("MASTER_BOT_TOKEN", raising=False)
    refused("billing", "reconcile", code=2, message="MASTER_BOT_TOKEN is not set")
    assert "reconcile skipped: MASTER_BOT_TOKEN is not set" in ok("billing", "tick").output
    assert json.loads(ok("billing", "tick", "--json").stdout)["reconcile"] is None
    monkeypatch.setenv("MASTER_BOT_TOKEN", tenant_token(5))
    refused("billing", "reconcile", code=2, message="MASTER_BOT_TOKEN is not the master bot's token")
