"""An end user's subscription in the operator's Remnawave panel: granted here, carried out there by retried jobs.

A grant changes the subscription and queues a `sync` job in the same transaction; an expiry queues a `disable` job.
The executor never holds a transaction across an HTTP call: it claims the jobs due in one short transaction, calls
the panel with none open, and records each outcome in another. A failed job is retried with backoff; a creation
whose answer was lost is found by its username on the next attempt, so a user never gets two panel accounts.
Panel usernames are `t{bot_id}_{telegram_id}`: tenants sharing one panel never collide.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from tenantctl.core.crypto import SecretBox
from tenantctl.core.db import conflict_insert, run_in_transaction
from tenantctl.core.errors import ConfigError, Invalid
from tenantctl.customers.models import (
    PANEL_ACTIONS,
    PANEL_JOB_STATUSES,
    RUNNING_STATUSES,
    PanelJob,
    Subscription,
    TrafficDaily,
    User,
)
from tenantctl.customers.panel import (
    DISABLED,
    NOT_FOUND,
    UNAVAILABLE,
    USER_EXISTS,
    PanelClient,
    PanelError,
    PanelUser,
)
from tenantctl.flags.keys import PANEL_API_KEY_KEY, PANEL_AUTH_TYPE_KEY, PANEL_SQUADS_KEY, PANEL_URL_KEY
from tenantctl.tenants.config import plaintext_of
from tenantctl.tenants.lookup import get_master
from tenantctl.tenants.models import Bot, BotConfiguration

SYNC, DISABLE = PANEL_ACTIONS
PENDING, DONE = PANEL_JOB_STATUSES
GIB = 1024 ** 3
PANEL_BACKOFF = timedelta(seconds=30)  # after the first failed attempt; doubled after each one
PANEL_BACKOFF_CAP = timedelta(hours=1)  # a paid subscription is never given up on
PANEL_CLAIM = timedelta(minutes=2)  # how long a claimed job is not due for anyone else
PANEL_CONCURRENCY = 4  # end users served at once (one user's jobs run one after another); each holds one connection at most
TRAFFIC_TAIL = timedelta(days=1)  # an ended subscription's traffic is still read this long: its last hours count too
PULL_CONCURRENCY = 8
PANEL_KEYS = (PANEL_URL_KEY, PANEL_API_KEY_KEY, PANEL_AUTH_TYPE_KEY, PANEL_SQUADS_KEY)
_SQUAD_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def panel_username(bot_id: int, telegram_id: int) -> str:
    """The user's name in the panel, unique across the tenants sharing it."""
    return f"t{bot_id}_{telegram_id}"


def panel_tag(bot_id: int) -> str:
    """The panel tag of a tenant's users (the panel allows A-Z, 0-9 and _, 16 at most)."""
    return f"TENANT_{bot_id}"


@dataclass(frozen=True)
class Provisioned:
    """A subscription now in the panel whose link the bot has not sent yet: send it after commit, then `mark_link_sent`."""

    job_id: int
    bot_id: int
    telegram_id: int
    language_code: str | None
    subscription_url: str
    end_date: datetime


@dataclass(frozen=True)
class PanelSettings:
    """Where the operator's panel is, its API key, and the internal squads new users join (empty: all of them)."""

    api_url: str
    api_key: str = field(repr=False)
    squads: tuple[str, ...] = ()


def panel_settings(values: Mapping[str, Any]) -> PanelSettings | None:
    """The panel named by its URL and API key in `values` (the `.env` names, `flags.keys`); None without a URL."""
    url = str(values.get(PANEL_URL_KEY) or "").strip()
    if not url:
        return None
    auth = str(values.get(PANEL_AUTH_TYPE_KEY) or "api_key").strip().lower()
    if auth != "api_key":
        raise ConfigError(f"{PANEL_AUTH_TYPE_KEY}={auth} is not supported: the panel is reached with {PANEL_API_KEY_KEY} (api_key)")
    key = str(values.get(PANEL_API_KEY_KEY) or "").strip()
    if not key:
        raise ConfigError(f"{PANEL_URL_KEY} is set but {PANEL_API_KEY_KEY} is not")
    squads = tuple(part.strip() for part in str(values.get(PANEL_SQUADS_KEY) or "").split(",") if part.strip())
    wrong = [squad for squad in squads if not _SQUAD_RE.match(squad)]
    if wrong:
        raise ConfigError(f"{PANEL_SQUADS_KEY} holds {wrong[0]!r}, not a squad's UUID (several are separated by commas)")
    return PanelSettings(api_url=url, api_key=key, squads=squads)


async def open_panel(session: AsyncSession, *, env: Mapping[str, str], box: SecretBox) -> PanelClient | None:
    """The operator's panel from the master's configuration, else from the same keys in `env`; None if neither names one."""
    values: dict[str, Any] = {}
    master = await get_master(session)
    if master is not None:
        rows = await session.scalars(select(BotConfiguration).where(BotConfiguration.bot_id == master.id,
                                                                    BotConfiguration.config_key.in_(PANEL_KEYS)))
        values = {row.config_key: plaintext_of(row, box) for row in rows}
    found = panel_settings(values) or panel_settings(env)
    return PanelClient(found.api_url, found.api_key, squads=found.squads) if found else None


async def _add_traffic(session: AsyncSession, *, bot_id: int, day: date, consumed_bytes: int = 0, sold_bytes: int = 0) -> None:
    row = conflict_insert(session.bind.dialect.name, TrafficDaily).values(bot_id=bot_id, day=day, consumed_bytes=consumed_bytes, sold_bytes=sold_bytes)
    table = TrafficDaily.__table__.c
    await session.execute(row.on_conflict_do_update(index_elements=["bot_id", "day"], set_={
        "consumed_bytes": table.consumed_bytes + row.excluded.consumed_bytes, "sold_bytes": table.sold_bytes + row.excluded.sold_bytes}))


async def grant_subscription(session: AsyncSession, *, bot_id: int, user: User, days: int, traffic_gb: int, devices: int,
                             plan_id: int | None, status: str, now: datetime) -> Subscription:
    """Extend the user's running subscription by `days` from max(now, its end) (a renewal before the end loses no day),
    or start one; queue its panel sync."""
    if user.bot_id != bot_id:
        raise Invalid("not this bot's user")
    if status not in RUNNING_STATUSES:
        raise Invalid(f"a subscription is granted as {' or '.join(RUNNING_STATUSES)}, not {status!r}")
    if days < 1 or traffic_gb < 0 or devices < 1:
        raise Invalid("a subscription needs at least 1 day and 1 device, and traffic of 0 (unlimited) or more")
    await session.execute(select(User.id).where(User.id == user.id).with_for_update())  # one grant per user at a time
    subscription = await session.scalar(
        select(Subscription).where(Subscription.bot_id == bot_id, Subscription.user_id == user.id,
                                   Subscription.status.in_(RUNNING_STATUSES))
        .order_by(Subscription.end_date.desc()).limit(1).with_for_update())
    limit = traffic_gb * GIB
    if subscription is None:
        subscription = Subscription(bot_id=bot_id, user_id=user.id, bot_plan_id=plan_id, status=status, start_date=now,
                                    end_date=now + timedelta(days=days), traffic_limit_bytes=limit, device_limit=devices)
        session.add(subscription)
    else:
        subscription.end_date = max(now, subscription.end_date) + timedelta(days=days)
        if subscription.status != "active":  # a purchase turns a trial into a paid subscription, never back
            subscription.status = status
        # the panel counts traffic over the subscription's whole life: the new period's traffic comes on top of what was used
        subscription.traffic_limit_bytes = limit and subscription.traffic_used_bytes + limit
        subscription.device_limit = devices
        subscription.bot_plan_id = plan_id if plan_id is not None else subscription.bot_plan_id
        subscription.renewal_reminded_at = None  # a new period, to be reminded of in its turn
    await session.flush()
    session.add(PanelJob(bot_id=bot_id, subscription_id=subscription.id, action=SYNC, next_attempt_at=now))
    if status == "active" and limit:
        await _add_traffic(session, bot_id=bot_id, day=now.date(), sold_bytes=limit)
    await session.flush()
    return subscription


async def expire_subscriptions(session: AsyncSession, *, now: datetime) -> int:
    """End users' trial and paid subscriptions past their end become expired, each with a job disabling its panel user."""
    lapsed = (Subscription.status.in_(RUNNING_STATUSES), Subscription.end_date <= now)
    expired = (await session.execute(update(Subscription).where(*lapsed).values(status="expired")
                                     .returning(Subscription.id, Subscription.bot_id),
                                     execution_options={"synchronize_session": False})).all()
    if expired:
        await session.execute(insert(PanelJob), [{"bot_id": bot_id, "subscription_id": subscription_id, "action": DISABLE,
                                                  "next_attempt_at": now} for subscription_id, bot_id in expired])
    return len(expired)


@dataclass(frozen=True)
class _Work:
    """One claimed job and what its panel call needs, read when it was claimed."""

    job_id: int
    action: str
    bot_id: int
    user_id: int
    telegram_id: int
    language_code: str | None
    panel_uuid: str | None
    subscription_id: int
    end_date: datetime
    traffic_limit_bytes: int
    device_limit: int
    fresh: bool  # the subscription has never been in the panel (no link yet)
    moot: bool  # nothing to do: a sync of a subscription no longer running, a disable while another one runs
    description: str


async def _claim(session: AsyncSession, *, now: datetime, limit: int) -> list[_Work]:
    due = (PanelJob.status == PENDING, PanelJob.next_attempt_at <= now)
    ids = select(PanelJob.id).where(*due).order_by(PanelJob.id).limit(limit)
    claimed = (await session.scalars(update(PanelJob).where(PanelJob.id.in_(ids), *due)  # checked again after a concurrent claim
                                     .values(next_attempt_at=now + PANEL_CLAIM).returning(PanelJob.id))).all()
    if not claimed:
        return []
    other = aliased(Subscription)
    other_running = exists().where(other.user_id == User.id, other.status.in_(RUNNING_STATUSES))
    rows = await session.execute(
        select(PanelJob.id, PanelJob.action, Subscription, User, Bot.name, Bot.username, other_running)
        .join(Subscription, Subscription.id == PanelJob.subscription_id).join(User, User.id == Subscription.user_id)
        .join(Bot, Bot.id == PanelJob.bot_id).where(PanelJob.id.in_(claimed)).order_by(PanelJob.id))
    work = []
    for job_id, action, subscription, user, bot_name, bot_username, running in rows:
        moot = subscription.status not in RUNNING_STATUSES if action == SYNC else running
        work.append(_Work(job_id=job_id, action=action, bot_id=subscription.bot_id, user_id=user.id, telegram_id=user.telegram_id,
                          language_code=user.language_code, panel_uuid=user.panel_uuid, subscription_id=subscription.id,
                          end_date=subscription.end_date, traffic_limit_bytes=subscription.traffic_limit_bytes,
                          device_limit=subscription.device_limit, fresh=subscription.subscription_url is None, moot=moot,
                          description=f"tenant {subscription.bot_id} {'@' + bot_username if bot_username else bot_name}: "
                                      f"user {user.telegram_id}"[:200]))
    return work


async def _synced_user(panel: PanelClient, work: _Work) -> PanelUser:
    """The subscription's panel user, created once, with the subscription's expiry, traffic limit and devices."""
    terms = {"expire_at": work.end_date, "traffic_limit_bytes": work.traffic_limit_bytes, "device_limit": work.device_limit,
             "description": work.description, "tag": panel_tag(work.bot_id)}
    username = panel_username(work.bot_id, work.telegram_id)
    uuid = work.panel_uuid
    if uuid is None:
        found = await panel.find_user(username)  # an earlier attempt may have created it and lost the answer
        if found is None:
            try:
                return await panel.create_user(username=username, telegram_id=work.telegram_id, **terms)
            except PanelError as exc:
                if exc.code != USER_EXISTS:
                    raise
            found = await panel.find_user(username)  # another executor created it meanwhile
            if found is None:
                raise PanelError(f"the panel says {username} exists but does not find it", code=UNAVAILABLE)
        uuid = found.uuid
    try:
        return await panel.update_user(uuid, **terms)
    except PanelError as exc:
        if exc.code != NOT_FOUND or work.panel_uuid is None:
            raise
    return await _synced_user(panel, replace(work, panel_uuid=None))  # deleted in the panel by hand: made anew


async def _carry_out(panel: PanelClient, work: _Work) -> PanelUser | None:
    """Make the job's change in the panel; the synced user, or None for a disable."""
    if work.action == SYNC:
        user = await _synced_user(panel, work)
        if user.status == DISABLED:
            user = await panel.enable_user(user.uuid)
        if work.fresh and user.used_traffic_bytes:  # a new subscription of an existing panel user starts from zero
            user = await panel.reset_traffic(user.uuid)
        return user
    found = await panel.find_user(panel_username(work.bot_id, work.telegram_id)) if work.panel_uuid is None else None
    uuid = work.panel_uuid or (found.uuid if found else None)
    if uuid is not None:
        try:
            await panel.disable_user(uuid)
        except PanelError as exc:
            if exc.code != NOT_FOUND:
                raise
    return None


async def _record(session: AsyncSession, *, work: _Work, user: PanelUser | None, error: str | None, now: datetime) -> Provisioned | None:
    job = await session.get(PanelJob, work.job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status == DONE:
        return None
    job.attempts += 1
    if error is not None:
        job.last_error = error[:300]
        job.next_attempt_at = now + min(PANEL_BACKOFF * 2 ** (job.attempts - 1), PANEL_BACKOFF_CAP)
        return None
    job.status, job.last_error = DONE, None
    if user is None:
        return None
    await session.execute(update(User).where(User.id == work.user_id).values(panel_uuid=user.uuid))
    await session.execute(update(Subscription).where(Subscription.id == work.subscription_id)
                          .values(subscription_url=user.subscription_url))
    if job.link_sent:
        return None
    return Provisioned(job_id=job.id, bot_id=work.bot_id, telegram_id=work.telegram_id, language_code=work.language_code,
                       subscription_url=user.subscription_url, end_date=work.end_date)


async def run_panel_jobs(sessions: async_sessionmaker[AsyncSession], *, panel: PanelClient, now: datetime,
                         limit: int = 50) -> list[Provisioned]:
    """Carry out the panel jobs due: claim, call the panel with no transaction open, record; the links now ready to send.

    Up to PANEL_CONCURRENCY end users are served at once, each user's jobs in the order they were made. Once the panel is
    unavailable no further job starts: the claimed ones fall due again when their claim runs out."""
    by_user: dict[int, list[_Work]] = defaultdict(list)
    for work in await run_in_transaction(sessions, partial(_claim, now=now, limit=limit)):
        by_user[work.user_id].append(work)
    slots, unavailable = asyncio.Semaphore(PANEL_CONCURRENCY), asyncio.Event()

    async def serve(jobs: list[_Work]) -> list[Provisioned]:
        done = []
        async with slots:
            for work in jobs:
                if unavailable.is_set():
                    break
                user, failure = None, None
                if not work.moot:
                    try:
                        user = await _carry_out(panel, work)
                    except PanelError as exc:
                        failure = exc
                recorded = await run_in_transaction(sessions, partial(_record, work=work, user=user,
                                                                      error=failure and str(failure), now=now))
                if recorded is not None:
                    done.append(recorded)
                if failure is not None:
                    if failure.code == UNAVAILABLE:
                        unavailable.set()
                    break  # this user's later jobs wait for this one
        return done

    served = await asyncio.gather(*(serve(jobs) for jobs in by_user.values()))
    return [provisioned for done in served for provisioned in done]


async def mark_link_sent(session: AsyncSession, *, job_id: int) -> None:
    """The bot sent the subscription link of this job's subscription."""
    await session.execute(update(PanelJob).where(PanelJob.id == job_id).values(link_sent=True))


async def unsent_links(session: AsyncSession, *, bot_id: int | None = None, limit: int = 50) -> list[Provisioned]:
    """Subscriptions in the panel whose link no bot has sent yet (e.g. provisioned by `billing tick`), oldest first."""
    query = (select(PanelJob.id, Subscription, User).join(Subscription, Subscription.id == PanelJob.subscription_id)
             .join(User, User.id == Subscription.user_id)
             .where(PanelJob.action == SYNC, PanelJob.status == DONE, PanelJob.link_sent.is_(False),
                    Subscription.subscription_url.is_not(None))
             .order_by(PanelJob.id).limit(limit))
    if bot_id is not None:
        query = query.where(PanelJob.bot_id == bot_id)
    return [Provisioned(job_id=job_id, bot_id=s.bot_id, telegram_id=u.telegram_id, language_code=u.language_code,
                        subscription_url=s.subscription_url, end_date=s.end_date) for job_id, s, u in await session.execute(query)]


async def panel_backlog(session: AsyncSession) -> tuple[int, str | None]:
    """How many panel jobs are pending, and the last error among those that failed."""
    pending = await session.scalar(select(func.count()).select_from(PanelJob).where(PanelJob.status == PENDING))
    error = await session.scalar(select(PanelJob.last_error).where(PanelJob.status == PENDING, PanelJob.last_error.is_not(None))
                                 .order_by(PanelJob.updated_at.desc(), PanelJob.id.desc()).limit(1))
    return pending or 0, error


async def _readable(session: AsyncSession, *, now: datetime) -> list[tuple[int, str]]:
    latest = (select(func.max(Subscription.id)).where(Subscription.subscription_url.is_not(None))
              .group_by(Subscription.user_id).scalar_subquery())
    rows = await session.execute(
        select(Subscription.id, User.panel_uuid).join(User, User.id == Subscription.user_id)
        .where(Subscription.id.in_(latest), User.panel_uuid.is_not(None),
               or_(Subscription.status.in_(RUNNING_STATUSES), Subscription.end_date > now - TRAFFIC_TAIL))
        .order_by(Subscription.id))
    return [tuple(row) for row in rows.all()]


async def _record_traffic(session: AsyncSession, *, readings: dict[int, int], now: datetime) -> None:
    subscriptions = await session.scalars(select(Subscription).where(Subscription.id.in_(readings)).order_by(Subscription.id)
                                          .with_for_update(), execution_options={"populate_existing": True})
    consumed: dict[int, int] = defaultdict(int)
    for subscription in subscriptions:
        used, last = readings[subscription.id], subscription.traffic_used_bytes
        consumed[subscription.bot_id] += used - last if used >= last else used  # below the last reading: the panel reset it
        subscription.traffic_used_bytes = used
    for bot_id, delta in sorted(consumed.items()):
        if delta:
            await _add_traffic(session, bot_id=bot_id, day=now.date(), consumed_bytes=delta)


async def pull_traffic(sessions: async_sessionmaker[AsyncSession], *, panel: PanelClient, now: datetime) -> int:
    """Read each provisioned user's used traffic from the panel; what grew since the last reading goes to today's traffic."""
    readable = await run_in_transaction(sessions, partial(_readable, now=now))
    gate = asyncio.Semaphore(PULL_CONCURRENCY)

    async def read(uuid: str) -> PanelUser:
        async with gate:
            return await panel.get_user(uuid)

    results = await asyncio.gather(*(read(uuid) for _, uuid in readable), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    unexpected = [r for r in failed if not isinstance(r, PanelError)]
    if unexpected:
        raise unexpected[0]
    readings = {subscription_id: r.used_traffic_bytes for (subscription_id, _), r in zip(readable, results) if isinstance(r, PanelUser)}
    if readings:
        await run_in_transaction(sessions, partial(_record_traffic, readings=readings, now=now))
    if failed:
        raise PanelError(f"traffic of {len(failed)} of {len(readable)} users not read ({len(readings)} recorded): {failed[0]}",
                         code=failed[0].code, status=failed[0].status)
    return len(readings)
