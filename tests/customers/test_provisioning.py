"""End users' subscriptions provisioned in the operator's panel: the fake Remnawave panel over real HTTP, on SQLite and
PostgreSQL (the `app` fixture). One panel user per end user whatever fails, retries with growing backoff, expiry
disabling, traffic pulled once per reading, tenants apart, and the API key nowhere."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tenantctl.core.errors import ConfigError, Invalid
from tenantctl.customers.models import PanelJob, Subscription, TrafficDaily, User
from tenantctl.customers.panel import PanelClient, PanelError
from tenantctl.customers.provisioning import (
    GIB,
    PANEL_BACKOFF,
    PANEL_BACKOFF_CAP,
    PANEL_CONCURRENCY,
    expire_subscriptions,
    grant_subscription,
    mark_link_sent,
    open_panel,
    panel_backlog,
    pull_traffic,
    run_panel_jobs,
    unsent_links,
)
from tenantctl.tenants.models import Bot, BotConfiguration
from tests.customers.conftest import PANEL_KEY as KEY

NOW = datetime(2030, 3, 1, 9, 0, tzinfo=timezone.utc)


async def tenant(app, *, telegram_ids=(501,), username: str | None = "shop_bot") -> tuple[int, list[int]]:
    """A tenant bot and its end users; returns the bot id and the users' ids."""
    async with app.unit_of_work() as session:
        bot = Bot(name=f"shop {secrets.token_hex(3)}", username=username, token_encrypted="x", token_fingerprint=secrets.token_hex(32),
                  status="active")
        session.add(bot)
        await session.flush()
        users = [User(bot_id=bot.id, telegram_id=t, language_code="en") for t in telegram_ids]
        session.add_all(users)
        await session.flush()
        return bot.id, [u.id for u in users]


async def grant(app, bot_id: int, user_id: int, *, days: int = 30, traffic_gb: int = 50, devices: int = 3, status: str = "active",
                now: datetime = NOW) -> Subscription:
    async with app.unit_of_work() as session:
        user = await session.get(User, user_id)
        return await grant_subscription(session, bot_id=bot_id, user=user, days=days, traffic_gb=traffic_gb, devices=devices,
                                        plan_id=None, status=status, now=now)


async def one(app, model, ident):
    async with app.unit_of_work() as session:
        return await session.get(model, ident)


async def jobs(app) -> list[PanelJob]:
    async with app.unit_of_work() as session:
        return list((await session.scalars(select(PanelJob).order_by(PanelJob.id))).all())


async def traffic(app, bot_id: int) -> dict[date, tuple[int, int]]:
    async with app.unit_of_work() as session:
        rows = await session.scalars(select(TrafficDaily).where(TrafficDaily.bot_id == bot_id))
        return {r.day: (r.consumed_bytes, r.sold_bytes) for r in rows}


def ms(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


async def test_a_grant_creates_one_panel_user_and_stores_its_link(app, fake, panel) -> None:
    bot_id, (user_id,) = await tenant(app)
    subscription = await grant(app, bot_id, user_id)
    assert (subscription.status, subscription.end_date, subscription.traffic_limit_bytes, subscription.device_limit) == (
        "active", NOW + timedelta(days=30), 50 * GIB, 3)

    provisioned = await run_panel_jobs(app.sessions, panel=panel, now=NOW)
    created = fake.user(f"t{bot_id}_501")
    assert (created["expireAt"], created["trafficLimitBytes"], created["hwidDeviceLimit"], created["status"], created["tag"],
            created["telegramId"], created["trafficLimitStrategy"]) == (
        ms(NOW + timedelta(days=30)), 50 * GIB, 3, "ACTIVE", f"TENANT_{bot_id}", 501, "NO_RESET")
    assert created["description"] == f"tenant {bot_id} @shop_bot: user 501"
    assert [(p.bot_id, p.telegram_id, p.language_code, p.subscription_url, p.end_date) for p in provisioned] == [
        (bot_id, 501, "en", created["subscriptionUrl"], NOW + timedelta(days=30))]
    assert (await one(app, User, user_id)).panel_uuid == created["uuid"]
    assert (await one(app, Subscription, subscription.id)).subscription_url == created["subscriptionUrl"]
    assert [(j.action, j.status, j.attempts, j.last_error) for j in await jobs(app)] == [("sync", "done", 1, None)]
    assert await traffic(app, bot_id) == {NOW.date(): (0, 50 * GIB)}  # sold

    async with app.unit_of_work() as session:
        assert [p.job_id for p in await unsent_links(session, bot_id=bot_id)] == [provisioned[0].job_id]
        await mark_link_sent(session, job_id=provisioned[0].job_id)
        assert await unsent_links(session) == []
        assert await panel_backlog(session) == (0, None)
    assert await run_panel_jobs(app.sessions, panel=panel, now=NOW + timedelta(hours=1)) == []

    renewed = await grant(app, bot_id, user_id, days=10, traffic_gb=20, devices=5, now=NOW + timedelta(days=5))
    assert (renewed.id, renewed.end_date, renewed.traffic_limit_bytes) == (subscription.id, NOW + timedelta(days=40), 20 * GIB)
    again = await run_panel_jobs(app.sessions, panel=panel, now=NOW + timedelta(days=5))
    assert len(fake.users) == 1 and len(fake.calls("POST", "/api/users")) == 1
    assert (created["expireAt"], created["trafficLimitBytes"], created["hwidDeviceLimit"]) == (ms(NOW + timedelta(days=40)), 20 * GIB, 5)
    assert [p.end_date for p in again] == [NOW + timedelta(days=40)]


async def test_a_trial_becomes_paid_and_a_renewal_adds_traffic_on_top_of_what_was_used(app, fake, panel) -> None:
    bot_id, (user_id,) = await tenant(app)
    trial = await grant(app, bot_id, user_id, days=3, traffic_gb=10, devices=1, status="trial")
    await run_panel_jobs(app.sessions, panel=panel, now=NOW)
    fake.set_used_traffic(f"t{bot_id}_501", 4 * GIB)
    assert await pull_traffic(app.sessions, panel=panel, now=NOW + timedelta(days=1)) == 1
    paid = await grant(app, bot_id, user_id, days=30, traffic_gb=50, now=NOW + timedelta(days=1))
    assert (paid.id, paid.status, paid.end_date, paid.traffic_limit_bytes) == (trial.id, "active", NOW + timedelta(days=33), 54 * GIB)
    trial_again = await grant(app, bot_id, user_id, days=3, traffic_gb=10, status="trial", now=NOW + timedelta(days=2))
    assert trial_again.status == "active"
    assert await traffic(app, bot_id) == {NOW.date() + timedelta(days=1): (4 * GIB, 50 * GIB)}  # a trial is not sold traffic

    async with app.unit_of_work() as session:
        user = await session.get(User, user_id)
        for wrong in ({"status": "expired"}, {"days": 0}, {"devices": 0}, {"traffic_gb": -1}, {"bot_id": bot_id + 1}):
            fields = {"bot_id": bot_id, "days": 30, "traffic_gb": 0, "devices": 1, "status": "active"} | wrong
            with pytest.raises(Invalid):
                await grant_subscription(session, user=user, plan_id=None, now=NOW, **fields)


async def test_the_panel_down_then_back_retries_with_growing_backoff_and_one_panel_user(app, fake, panel) -> None:
    bot_id, (user_id,) = await tenant(app)
    await grant(app, bot_id, user_id)
    fake.down()
    at, delays = NOW, []
    for attempt in (1, 2, 3):
        assert await run_panel_jobs(app.sessions, panel=panel, now=at) == []
        (job,) = await jobs(app)
        assert (job.status, job.attempts) == ("pending", attempt)
        assert "503" in job.last_error
        delays.append(job.next_attempt_at - at)
        calls = len(fake.requests)
        assert await run_panel_jobs(app.sessions, panel=panel, now=job.next_attempt_at - timedelta(seconds=1)) == []
        assert len(fake.requests) == calls  # not due yet: the panel is left alone
        at = job.next_attempt_at
    assert delays == [PANEL_BACKOFF, 2 * PANEL_BACKOFF, 4 * PANEL_BACKOFF]
    async with app.unit_of_work() as session:
        pending, error = await panel_backlog(session)
    assert pending == 1 and "503" in error

    fake.up()
    (provisioned,) = await run_panel_jobs(app.sessions, panel=panel, now=at)
    (job,) = await jobs(app)
    assert (job.status, job.attempts, job.last_error) == ("done", 4, None)
    assert len(fake.users) == 1 and provisioned.subscription_url == fake.user(f"t{bot_id}_501")["subscriptionUrl"]


async def test_the_backoff_stops_growing_at_its_cap(app, fake, panel) -> None:
    bot_id, (user_id,) = await tenant(app)
    await grant(app, bot_id, user_id)
    fake.down()
    at = NOW
    for _ in range(10):
        await run_panel_jobs(app.sessions, panel=panel, now=at)
        (job,) = await jobs(app)
        at = job.next_attempt_at
    assert at - NOW == sum((min(PANEL_BACKOFF * 2 ** n, PANEL_BACKOFF_CAP) for n in range(10)), timedelta(0))


async def test_a_lost_creation_answer_does_not_make_a_second_panel_user(app, fake, panel) -> None:
    bot_id, (user_id,) = await tenant(app)
    await grant(app, bot_id, user_id)
    await panel.new_user_squads()  # the panel's squads are known already
    fake.lose_next_responses(1)  # the lookup answers 404; the creation is carried out, its answer lost
    assert await run_panel_jobs(app.sessions, panel=panel, now=NOW) == []
    assert len(fake.users) == 1
    assert (await one(app, User, user_id)).panel_uuid is None

    (provisioned,) = await run_panel_jobs(app.sessions, panel=panel, now=NOW + PANEL_BACKOFF)
    assert len(fake.users) == 1 and len(fake.calls("POST", "/api/users")) == 1
    assert (await one(app, User, user_id)).panel_uuid == fake.user(f"t{bot_id}_501")["uuid"]
    assert provisioned.subscription_url == fake.user(f"t{bot_id}_501")["subscriptionUrl"]


async def test_a_user_already_in_the_panel_is_found_not_created_twice(app, fake, panel) -> None:
    """Another executor created the user between this one's lookup and its creation: the panel's 'already exists' is handled."""
    bot_id, (user_id,) = await tenant(app)
    await grant(app, bot_id, user_id)
    original = panel.find_user
    raced = []

    async def find_then_race(username: str):
        found = await original(username)
        if found is None and not raced:
            raced.append(await panel.create_user(username=username, expire_at=NOW, traffic_limit_bytes=0, device_limit=1))
        return found

    panel.find_user = find_then_race
    (provisioned,) = await run_panel_jobs(app.sessions, panel=panel, now=NOW)
    assert len(fake.users) == 1
    assert (await one(app, User, user_id)).panel_uuid == raced[0].uuid
    assert fake.user(f"t{bot_id}_501")["expireAt"] == ms(NOW + timedelta(days=30))


async def test_two_tenants_users_with_one_telegram_id_get_two_panel_users(app, fake, panel) -> None:
    first, (first_user,) = await tenant(app)
    second, (second_user,) = await tenant(app, username=None)
    await grant(app, first, first_user, traffic_gb=10)
    await grant(app, second, second_user, traffic_gb=0, devices=2)
    provisioned = await run_panel_jobs(app.sessions, panel=panel, now=NOW)
    assert sorted(u["username"] for u in fake.users.values()) == sorted([f"t{first}_501", f"t{second}_501"])
    a, b = fake.user(f"t{first}_501"), fake.user(f"t{second}_501")
    assert (a["tag"], a["trafficLimitBytes"], b["tag"], b["trafficLimitBytes"], b["hwidDeviceLimit"]) == (
        f"TENANT_{first}", 10 * GIB, f"TENANT_{second}", 0, 2)
    assert b["description"].startswith(f"tenant {second} shop ")
    assert {(await one(app, User, first_user)).panel_uuid, (await one(app, User, second_user)).panel_uuid} == {a["uuid"], b["uuid"]}
    assert {(p.bot_id, p.subscription_url) for p in provisioned} == {(first, a["subscriptionUrl"]), (second, b["subscriptionUrl"])}


async def test_expiry_disables_the_panel_user_and_a_new_purchase_brings_it_back_from_zero(app, fake, panel) -> None:
    bot_id, (user_id, other_id) = await tenant(app, telegram_ids=(501, 502))
    trial = await grant(app, bot_id, user_id, days=3, traffic_gb=10, devices=1, status="trial")
    await grant(app, bot_id, other_id, days=30)
    await run_panel_jobs(app.sessions, panel=panel, now=NOW)
    fake.set_used_traffic(f"t{bot_id}_501", 7 * GIB)

    async with app.unit_of_work() as session:
        assert await expire_subscriptions(session, now=NOW + timedelta(days=3)) == 1
    async with app.unit_of_work() as session:
        assert await expire_subscriptions(session, now=NOW + timedelta(days=3)) == 0
    assert (await one(app, Subscription, trial.id)).status == "expired"
    assert await run_panel_jobs(app.sessions, panel=panel, now=NOW + timedelta(days=3)) == []
    assert (fake.user(f"t{bot_id}_501")["status"], fake.user(f"t{bot_id}_502")["status"]) == ("DISABLED", "ACTIVE")
    assert [(j.action, j.status) for j in await jobs(app)][-1] == ("disable", "done")

    bought = await grant(app, bot_id, user_id, days=30, traffic_gb=50, now=NOW + timedelta(days=4))
    assert bought.id != trial.id and bought.traffic_limit_bytes == 50 * GIB
    (provisioned,) = await run_panel_jobs(app.sessions, panel=panel, now=NOW + timedelta(days=4))
    back = fake.user(f"t{bot_id}_501")
    assert (back["status"], back["userTraffic"]["usedTrafficBytes"], back["expireAt"], len(fake.users)) == (
        "ACTIVE", 0, ms(NOW + timedelta(days=34)), 2)
    assert (await one(app, Subscription, bought.id)).subscription_url == back["subscriptionUrl"] == provisioned.subscription_url


async def test_a_disable_queued_before_a_new_purchase_is_left_undone(app, fake, panel) -> None:
    bot_id, (user_id,) = await tenant(app)
    await grant(app, bot_id, user_id, days=1)
    await run_panel_jobs(app.sessions, panel=panel, now=NOW)
    async with app.unit_of_work() as session:
        assert await expire_subscriptions(session, now=NOW + timedelta(days=1)) == 1
    await grant(app, bot_id, user_id, days=30, now=NOW + timedelta(days=1))
    await run_panel_jobs(app.sessions, panel=panel, now=NOW + timedelta(days=1))
    assert fake.user(f"t{bot_id}_501")["status"] == "ACTIVE"
    assert not fake.calls("POST", "/api/users/" + fake.user(f"t{bot_id}_501")["uuid"] + "/actions/disable")
    assert [(j.action, j.status) for j in await jobs(app)] == [("sync", "done"), ("disable", "done"), ("sync", "done")]


async def test_several_users_are_served_at_once_and_each_users_jobs_in_order(app, fake, panel) -> None:
    bot_id, users = await tenant(app, telegram_ids=range(501, 511))
    for user_id in users:
        await grant(app, bot_id, user_id, days=1 if user_id == users[0] else 30)
    async with app.unit_of_work() as session:  # the first user's subscription ends, and is bought again: sync, disable, sync
        assert await expire_subscriptions(session, now=NOW + timedelta(days=1)) == 1
    await grant(app, bot_id, users[0], days=30, now=NOW + timedelta(days=1))
    fake.latency = 0.05

    provisioned = await run_panel_jobs(app.sessions, panel=panel, now=NOW + timedelta(days=1))
    assert 1 < fake.most_in_flight <= PANEL_CONCURRENCY
    assert sorted(p.telegram_id for p in provisioned) == list(range(501, 511))
    assert fake.user(f"t{bot_id}_501")["status"] == "ACTIVE"  # its disable was not carried out after its new sync
    assert all(j.status == "done" for j in await jobs(app))


async def test_pull_traffic_adds_each_reading_once(app, fake, panel) -> None:
    bot_id, (user_id, other_id) = await tenant(app, telegram_ids=(501, 502))
    other_bot, (stranger_id,) = await tenant(app)
    subscription = await grant(app, bot_id, user_id, traffic_gb=0)
    await grant(app, bot_id, other_id, traffic_gb=0)
    await grant(app, other_bot, stranger_id, traffic_gb=0)
    assert await pull_traffic(app.sessions, panel=panel, now=NOW) == 0  # nothing in the panel yet
    await run_panel_jobs(app.sessions, panel=panel, now=NOW)

    fake.set_used_traffic(f"t{bot_id}_501", 2 * GIB)
    fake.set_used_traffic(f"t{bot_id}_502", 1 * GIB)
    fake.set_used_traffic(f"t{other_bot}_501", 5 * GIB)
    assert await pull_traffic(app.sessions, panel=panel, now=NOW + timedelta(hours=1)) == 3
    assert await pull_traffic(app.sessions, panel=panel, now=NOW + timedelta(hours=2)) == 3
    assert await traffic(app, bot_id) == {NOW.date(): (3 * GIB, 0)}
    assert await traffic(app, other_bot) == {NOW.date(): (5 * GIB, 0)}

    fake.set_used_traffic(f"t{bot_id}_501", 6 * GIB)
    await pull_traffic(app.sessions, panel=panel, now=NOW + timedelta(hours=3))
    fake.set_used_traffic(f"t{bot_id}_501", 9 * GIB)
    await pull_traffic(app.sessions, panel=panel, now=NOW + timedelta(days=1))
    await pull_traffic(app.sessions, panel=panel, now=NOW + timedelta(days=1, hours=1))
    assert await traffic(app, bot_id) == {NOW.date(): (7 * GIB, 0), NOW.date() + timedelta(days=1): (3 * GIB, 0)}
    assert (await one(app, Subscription, subscription.id)).traffic_used_bytes == 9 * GIB

    fake.set_used_traffic(f"t{bot_id}_501", 0)  # reset in the panel by hand, then used again
    fake.set_used_traffic(f"t{bot_id}_501", GIB)
    await pull_traffic(app.sessions, panel=panel, now=NOW + timedelta(days=1, hours=2))
    assert (await traffic(app, bot_id))[NOW.date() + timedelta(days=1)] == (4 * GIB, 0)

    fake.set_used_traffic(f"t{bot_id}_502", 3 * GIB)
    fake.fail_next(1)
    with pytest.raises(PanelError, match="traffic of 1 of 3 users not read"):
        await pull_traffic(app.sessions, panel=panel, now=NOW + timedelta(days=1, hours=3))
    fake.down()
    with pytest.raises(PanelError, match="traffic of 3 of 3 users not read"):
        await pull_traffic(app.sessions, panel=panel, now=NOW + timedelta(days=1, hours=4))
    fake.up()
    await pull_traffic(app.sessions, panel=panel, now=NOW + timedelta(days=1, hours=5))
    assert (await traffic(app, bot_id))[NOW.date() + timedelta(days=1)] == (6 * GIB, 0)


async def test_the_api_key_is_never_in_an_error_or_a_log(app, fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    bot_id, (user_id,) = await tenant(app)
    await grant(app, bot_id, user_id)
    fake.api_key = "the-panel-now-wants-another-key"
    async with PanelClient(fake.url, KEY) as refused:
        await run_panel_jobs(app.sessions, panel=refused, now=NOW)
        with pytest.raises(PanelError) as failed:
            await refused.get_user("x")
    (job,) = await jobs(app)
    assert "401" in job.last_error
    for text in (job.last_error, str(failed.value), caplog.text, repr(refused)):
        assert KEY not in text


async def test_the_panel_comes_from_the_masters_configuration_or_the_environment(app, fake) -> None:
    env = {"REMNAWAVE_API_URL": fake.url, "REMNAWAVE_API_KEY": KEY}
    async with app.unit_of_work() as session:
        assert await open_panel(session, env={}, box=app.secret_box) is None
        from_env = await open_panel(session, env=env, box=app.secret_box)
        for wrong, message in (({"REMNAWAVE_AUTH_TYPE": "caddy"}, "REMNAWAVE_AUTH_TYPE=caddy is not supported"),
                               ({"REMNAWAVE_API_KEY": " "}, "REMNAWAVE_API_URL is set but REMNAWAVE_API_KEY is not"),
                               ({"SIMPLE_SUBSCRIPTION_SQUAD_UUID": "premium"}, "holds 'premium', not a squad's UUID")):
            with pytest.raises(ConfigError, match=message):
                await open_panel(session, env=env | wrong, box=app.secret_box)
    async with from_env:
        assert await from_env.find_user("nobody") is None

    async with app.unit_of_work() as session:
        master = Bot(name="operator", is_master=True, token_encrypted="x", token_fingerprint=secrets.token_hex(32), status="active")
        session.add(master)
        await session.flush()
        squad = next(iter(fake.squads))
        session.add_all([BotConfiguration(bot_id=master.id, config_key="REMNAWAVE_API_URL", value=fake.url, source="master"),
                         BotConfiguration(bot_id=master.id, config_key="SIMPLE_SUBSCRIPTION_SQUAD_UUID", value=f" {squad}, ", source="master"),
                         BotConfiguration(bot_id=master.id, config_key="REMNAWAVE_API_KEY", value=None, source="master",
                                          encrypted_value=app.secret_box.encrypt(KEY))])
    async with app.unit_of_work() as session:
        from_master = await open_panel(session, env={"REMNAWAVE_API_URL": "http://127.0.0.1:9", "REMNAWAVE_API_KEY": "other"},
                                       box=app.secret_box)
    async with from_master:
        assert await from_master.find_user("nobody") is None
        assert await from_master.new_user_squads() == [squad]  # the master's squad, not asked of the panel
    assert [r.status for r in fake.requests] == [404, 404]  # both answered with the key: from the environment, then the master


async def test_billing_tick_expires_provisions_and_pulls_traffic(app, fake, cli_env) -> None:
    bot_id, (user_id, other_id) = await tenant(app, telegram_ids=(501, 502))
    now = datetime.now(timezone.utc)
    await grant(app, bot_id, user_id, days=1, now=now - timedelta(days=2))  # lapsed, never provisioned
    await grant(app, bot_id, other_id, days=30, traffic_gb=0, now=now)

    async def tick(**env: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from tenantctl.cli.main import app; app()", "billing", "tick",
            env={**os.environ, **cli_env, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        assert (process.returncode, err.decode()) == (0, "")
        return out.decode()

    quiet = await tick()
    assert "end users: 1 subscription(s) expired" in quiet
    assert "panel not configured (REMNAWAVE_API_URL): 3 panel job(s) waiting" in quiet

    panel_env = {"REMNAWAVE_API_URL": fake.url, "REMNAWAVE_API_KEY": KEY}
    out = await tick(**panel_env)
    assert "end users: 0 subscription(s) expired" in out
    assert "panel: 1 subscription link(s) ready for the bots to send, 0 job(s) pending" in out
    assert "traffic: 1 user(s) read from the panel" in out
    assert [u["username"] for u in fake.users.values()] == [f"t{bot_id}_502"]

    fake.set_used_traffic(f"t{bot_id}_502", 3 * GIB)
    fake.down()
    out = await tick(**panel_env)
    assert "traffic not read: traffic of 1 of 1 users not read (0 recorded)" in out
    fake.up()
    await tick(**panel_env)
    assert (await traffic(app, bot_id))[now.date()] == (3 * GIB, 0)  # the lapsed grant sold its 50 GiB two days ago
