"""`tenantctl demo`: a master, the seed plans and three tenants with 90 days of realistic, seeded data.

Everything is offline: the master and tenant tokens are well-formed fakes, the getMe identities
are made up. The same `now` and `seed` give the same data. A database that has any bot already
is refused unless `reset` is given, which deletes every bot and everything that belongs to it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.billing.models import PlatformPayment
from tenantctl.onboarding.models import TenantRegistration
from tenantctl.core.crypto import SecretBox
from tenantctl.core.errors import Conflict
from tenantctl.customers.models import Subscription, TrafficDaily, Transaction, User
from tenantctl.customers.models import BotPlan
from tenantctl.tenants.models import Bot
from tenantctl.tenants.master import register_master
from tenantctl.tenants.service import ProvisionResult, provision_tenant
from tenantctl.tenants.telegram import BotIdentity

EXAMPLE_ENV = Path(__file__).resolve().parent / "operator.env.example"  # the demo operator's .env, shipped with the package
DAYS = 90
GB = 1024**3


def fake_token(bot_id: int) -> str:
    """A well-formed bot token that Telegram would reject: the demo never goes online."""
    return f"{bot_id}:DEMO-not-a-real-token-{bot_id % 10000:04d}-xxxxxxxxxx"


MASTER = BotIdentity(id=7000000001, username="demo_master_vpn_bot", first_name="Demo Master VPN")


@dataclass(frozen=True)
class DemoTenant:
    name: str
    username: str
    plan: str
    language: str
    support: str
    owner: int
    users: int
    languages: dict[str, int]  # user language -> weight
    methods: dict[str, int]  # payment method -> weight
    days_into_period: int  # how far into its current month the tenant is


TENANTS = (
    DemoTenant("Aurora VPN", "aurora_vpn_bot", "starter", "fa", "@aurora_support", 5550001, 60,
               {"fa": 7, "en": 2, "ru": 1}, {"card_to_card": 6, "zarinpal": 4}, 29),
    DemoTenant("Sever VPN", "sever_vpn_bot", "growth", "ru", "@sever_help", 5550002, 120,
               {"ru": 8, "en": 1, "fa": 1}, {"yookassa": 5, "cryptobot": 2, "card_to_card": 3}, 12),
    DemoTenant("Nimbus VPN", "nimbus_vpn_bot", "enterprise", "en", "@nimbus_care", 5550003, 200,
               {"en": 5, "ru": 3, "fa": 2}, {"yookassa": 3, "telegram_stars": 3, "cryptobot": 2, "card_to_card": 2}, 5),
)

FIRST_NAMES = {
    "fa": ["Ali", "Reza", "Sara", "Maryam", "Hossein", "Zahra", "Mehdi", "Niloofar", "Amir", "Fatemeh"],
    "ru": ["Ivan", "Olga", "Dmitry", "Anna", "Sergey", "Elena", "Pavel", "Irina", "Nikita", "Maria"],
    "en": ["James", "Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Grace"],
}
VPN_PLANS = (("1 month", 30, 200, 2, 29900), ("3 months", 90, 700, 3, 79900), ("12 months", 365, 0, 5, 249900))


@dataclass
class DemoReport:
    master: Bot
    tenants: list[ProvisionResult] = field(default_factory=list)
    catalogue_features: int = 0
    plans: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


async def build_demo(
    session: AsyncSession,
    *,
    box: SecretBox,
    env_path: str,
    actor: str,
    now: datetime,
    plans_path: str | Path | None = None,
    reset: bool = False,
    seed: int = 2025,
) -> DemoReport:
    """Sync the catalogue from `env_path`, seed plans, register a master from it and build three tenants."""
    from tenantctl.flags.catalogue import extract_feature_flags_from_env
    from tenantctl.plans.effective import sync_catalogue
    from tenantctl.plans.service import load_plan_seed, seed_plans

    bots = await session.scalar(select(func.count()).select_from(Bot))
    if bots and not reset:
        raise Conflict(f"the database has {bots} bot(s) already: `tenantctl demo --reset` deletes every bot and its data first")
    if bots:
        await _delete_all_bots(session)
    catalogue = extract_feature_flags_from_env(env_path)
    await sync_catalogue(session, catalogue=catalogue, actor=actor, source=str(env_path))
    plan_specs = load_plan_seed(plans_path) if plans_path else load_plan_seed()
    seeded = await seed_plans(session, plans=plan_specs, actor=actor)
    master = await register_master(session, token=fake_token(MASTER.id), env_path=env_path, box=box, actor=actor, identity=MASTER)
    report = DemoReport(master=master.bot, catalogue_features=len(catalogue.features), plans=seeded.created + seeded.unchanged)
    for number, spec in enumerate(TENANTS, start=1):
        rng = random.Random(f"{seed}:{spec.username}")
        identity = BotIdentity(id=MASTER.id + number, username=spec.username, first_name=spec.name)
        result = await provision_tenant(
            session, name=spec.name, token=fake_token(identity.id), owner_telegram_id=spec.owner, plan=spec.plan,
            language=spec.language, support_username=spec.support, box=box, actor=actor, identity=identity,
            now=now - timedelta(days=spec.days_into_period),
        )
        report.tenants.append(result)
        session.add(PlatformPayment(
            bot_id=result.bot.id, purpose="activation", method="card_to_card", status="succeeded",
            amount_minor=result.plan.activation_fee_kopeks, external_id=f"demo-activation-{spec.username}",
            reviewed_by=MASTER.id, reviewed_at=now - timedelta(days=spec.days_into_period),
        ))
        await _end_user_data(session, bot_id=result.bot.id, spec=spec, rng=rng, now=now)
    for name, model in (("users", User), ("subscriptions", Subscription), ("transactions", Transaction), ("traffic_days", TrafficDaily)):
        report.counts[name] = await session.scalar(select(func.count()).select_from(model))
    return report


async def _delete_all_bots(session: AsyncSession) -> None:
    """Every bot goes, and with it (ON DELETE CASCADE) its admins, config, flags, users and data."""
    await session.execute(delete(PlatformPayment).where(PlatformPayment.bot_id.is_not(None)))
    await session.execute(delete(TenantRegistration).where(TenantRegistration.bot_id.is_not(None)))
    await session.execute(delete(Bot))


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


async def _end_user_data(session: AsyncSession, *, bot_id: int, spec: DemoTenant, rng: random.Random, now: datetime) -> None:
    """VPN plans, users, their subscriptions and payments, and daily traffic for one tenant."""
    start = (now - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    plans = []
    for order, (name, days, traffic_gb, devices, price) in enumerate(VPN_PLANS):
        plan = BotPlan(bot_id=bot_id, name=name, period_days=days, traffic_limit_gb=traffic_gb, device_limit=devices,
                       price_kopeks=price, sort_order=order)
        session.add(plan)
        plans.append(plan)
    users = []
    for index in range(spec.users):
        language = _pick(rng, spec.languages)
        first = rng.choice(FIRST_NAMES[language])
        joined = start + timedelta(days=rng.randrange(DAYS), minutes=rng.randrange(1440))
        users.append(User(
            bot_id=bot_id, telegram_id=spec.owner * 1000 + index, first_name=first, language_code=language,
            username=f"{first.lower()}{rng.randrange(100, 999)}" if rng.random() < 0.7 else None,
            balance_kopeks=rng.choice((0, 0, 0, 5000, 10000, 25000)), is_blocked=rng.random() < 0.03,
            created_at=joined, updated_at=joined,
        ))
    session.add_all(users)
    await session.flush()

    transactions: list[dict[str, Any]] = []
    for user in users:
        roll = rng.random()
        if roll < 0.15:
            continue  # joined, never subscribed
        plan = rng.choices(plans, weights=(6, 3, 1))[0]
        begin = user.created_at + timedelta(days=rng.randrange(3))
        if roll < 0.30:
            end = begin + timedelta(days=3)
            status = "trial" if end > now else "expired"
        else:
            end = begin + timedelta(days=plan.period_days)
            status = "active" if end > now else "expired"
            if rng.random() < 0.05:
                status = "cancelled"
            paid_at = begin
            while paid_at <= now:
                method = _pick(rng, spec.methods)
                failed = rng.random() < 0.06
                transactions.append({
                    "bot_id": bot_id, "user_id": user.id, "kind": "subscription_payment",
                    "status": "failed" if failed else "succeeded", "amount_kopeks": plan.price_kopeks,
                    "payment_method": method, "external_id": f"demo-{bot_id}-{len(transactions)}", "created_at": paid_at,
                })
                if failed or status == "cancelled" or plan.period_days > 30 or rng.random() < 0.35:
                    break
                paid_at += timedelta(days=30)  # renewed monthly
        limit = plan.traffic_limit_gb * GB
        session.add(Subscription(
            bot_id=bot_id, user_id=user.id, bot_plan_id=plan.id, status=status, start_date=begin, end_date=end,
            traffic_limit_bytes=limit, traffic_used_bytes=int((limit or 300 * GB) * rng.uniform(0.05, 0.9)),
            device_limit=plan.device_limit,
        ))
        if rng.random() < 0.2:
            transactions.append({
                "bot_id": bot_id, "user_id": user.id, "kind": "deposit", "status": "succeeded",
                "amount_kopeks": rng.choice((10000, 25000, 50000)), "payment_method": _pick(rng, spec.methods),
                "external_id": f"demo-{bot_id}-{len(transactions)}", "created_at": begin + timedelta(hours=rng.randrange(48)),
            })
    refunds = [t for t in transactions if t["kind"] == "subscription_payment" and t["status"] == "succeeded"][:: 25]
    for paid in refunds:
        transactions.append({**paid, "kind": "refund", "external_id": f"{paid['external_id']}-refund",
                             "created_at": paid["created_at"] + timedelta(days=1)})
    if transactions:
        await session.execute(insert(Transaction), transactions)

    base = spec.users * 0.35 * GB
    traffic = []
    for day in range(DAYS):
        when = (start + timedelta(days=day)).date()
        growth = 0.6 + 0.8 * day / DAYS
        weekend = 1.25 if when.weekday() >= 5 else 1.0
        consumed = int(base * growth * weekend * rng.uniform(0.85, 1.15))
        traffic.append({"bot_id": bot_id, "day": when, "consumed_bytes": consumed, "sold_bytes": int(consumed * rng.uniform(1.3, 1.8))})
    await session.execute(insert(TrafficDaily), traffic)
    await session.flush()
