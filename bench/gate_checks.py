"""FeatureGate check costs: a plain check, a check under a user-sticky rollout, and what counting adds.

One tenant on SQLite (a throwaway file) with a switch granted to everyone and a mode rolled out to 25 %
of end users. Times, median of 5 rounds of 1,000,000 calls each:
- `is_enabled(bot, key)`: the plain check (it counts its result);
- `value(bot, key, user=...)`: the rollout check (murmur3 bucket of "{key}:{user}"); goal <= 1 µs;
- counting: the plain check minus the same lookup without the increment, inlined here; goal <= 50 ns.

Usage: python bench/gate_checks.py
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import tempfile
import timeit
from pathlib import Path

from tenantctl.core.app import App
from tenantctl.core.migrate import upgrade
from tenantctl.core.settings import Settings
from tenantctl.flags.gate import FeatureGate
from tenantctl.flags.models import Feature
from tenantctl.plans.effective import recompute_flags
from tenantctl.plans.models import TenantSubscription
from tenantctl.plans.service import create_plan, set_grant
from tenantctl.tenants.models import Bot
from tenantctl.tenants.rules import bot_name_key

N = 1_000_000


def median_ns(call) -> float:
    return statistics.median(timeit.timeit(call, number=N) / N for _ in range(5)) * 1e9


async def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        url = f"sqlite+aiosqlite:///{Path(home) / 'gate.db'}"
        app = await App.open(Settings(database_url=url, secret_key="x" * 43 + "=", key_file=str(Path(home) / "k")), check_schema=False)
        await upgrade(app.engine)
        async with app.unit_of_work() as s:
            s.add_all([Feature(key="yookassa", env_key="YOOKASSA_ENABLED", category="payment_gateways", kind="switch"),
                       Feature(key="support_tickets", env_key="SUPPORT_SYSTEM_MODE", category="support", kind="mode",
                               allowed_values=["disabled", "tickets", "both"], default_enabled=True, default_value="tickets")])
            plan = await create_plan(s, name="growth", actor="bench")
            bot = Bot(name="t", name_key=bot_name_key("t"), token_encrypted="x", token_fingerprint="f" * 64, status="active")
            s.add(bot)
            await s.flush()
            s.add(TenantSubscription(bot_id=bot.id, plan_tier_id=plan.id))
            await s.flush()
            await set_grant(s, plan="growth", feature="yookassa", actor="bench")
            await set_grant(s, plan="growth", feature="support_tickets", actor="bench", value="both", rollout_percent=25,
                            rollout_by="user")
            await recompute_flags(s)
            bot_id = bot.id
        gate = FeatureGate(app.sessions)
        await gate.load(bot_id)
        await app.close()
    flags = gate._flags  # the same lookups as is_enabled, without the count: the baseline of what counting adds

    def uncounted(bot: int, key: str, user: int | None = None) -> bool:
        flag = flags.get(bot, {}).get(key)
        if flag is None:
            return False
        if flag.splits is not None and user is not None:
            flag = gate._split(flag, key, user)
        return flag.enabled

    plain = median_ns(lambda: gate.is_enabled(bot_id, "yookassa"))
    baseline = median_ns(lambda: uncounted(bot_id, "yookassa"))
    rollout = median_ns(lambda: gate.value(bot_id, "support_tickets", user=123456789))
    result = {"bench": "gate_checks", "calls": N, "is_enabled_ns": round(plain, 1), "uncounted_lookup_ns": round(baseline, 1),
              "counting_adds_ns": round(plain - baseline, 1), "user_rollout_check_ns": round(rollout, 1),
              "targets": {"user_rollout_check_ns": 1000, "counting_adds_ns": 50},
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    print(json.dumps(result))
    print(f"FeatureGate on {result['machine']}: is_enabled {plain:.0f} ns (counting adds {plain - baseline:.0f} ns, goal <= 50), "
          f"a user-sticky rollout check {rollout:.0f} ns (goal <= 1000)")


if __name__ == "__main__":
    asyncio.run(main())
