"""Rollout bucketing against the Unleash client-specification vectors (read from ../shared/fixtures/unleash)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tenantctl.flags.rollout import bucket, in_rollout

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "unleash"
FILES = ["03-gradual-rollout-user-id-strategy.json", "10-flexible-rollout-strategy.json", "12-custom-stickiness.json"]


def _strategy_on(strategy: dict[str, Any], context: dict[str, Any]) -> bool:
    """One Unleash strategy, with the rollout itself left to `in_rollout`."""
    name, params = strategy["name"], strategy.get("parameters", {})
    if name == "default":
        return True
    if name == "gradualRolloutUserId":
        user = context.get("userId")
        return bool(user) and in_rollout(params.get("groupId", ""), user, int(params["percentage"]))
    assert name == "flexibleRollout" and not strategy.get("constraints"), strategy
    percent, stickiness = int(params["rollout"]), params.get("stickiness", "default")
    if stickiness == "default":
        sticky = context.get("userId") or context.get("sessionId")
        if sticky is None:  # Unleash draws a random id here: only 0 and 100 are certain
            return percent == 100
    else:
        sticky = context.get(stickiness) or context.get("properties", {}).get(stickiness)
    return sticky is not None and in_rollout(params.get("groupId", ""), str(sticky), percent)


def _cases() -> list[Any]:
    if not VECTORS.is_dir():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"the Unleash vectors are not at {VECTORS}"))]
    cases = []
    for name in FILES:
        spec = json.loads((VECTORS / name).read_text())
        features = {f["name"]: f for f in spec["state"]["features"]}
        cases += [pytest.param(features[t["toggleName"]], t, id=f"{name[:2]}: {t['description']}") for t in spec["tests"]]
    return cases


@pytest.mark.parametrize(("feature", "case"), _cases())
def test_unleash_vectors(feature: dict[str, Any], case: dict[str, Any]) -> None:
    on = feature["enabled"] and any(_strategy_on(s, case["context"]) for s in feature["strategies"])
    assert on is case["expectedResult"]


def test_buckets_are_1_to_100_and_raising_the_percentage_only_adds_ids() -> None:
    ids = [str(n) for n in range(2_000)]
    assert {bucket("trial", i) for i in ids} == set(range(1, 101))
    previous: set[str] = set()
    for percent in range(0, 101, 5):
        now = {i for i in ids if in_rollout("trial", i, percent)}
        assert previous <= now
        previous = now
    assert previous == set(ids)
    assert not any(in_rollout("trial", i, 0) for i in ids)


def test_a_plan_and_an_override_rolled_out_to_users_give_answers_by_bucket() -> None:
    from tenantctl.flags.resolution import Layer, resolve_split
    from tests.factories import feature

    f = feature("support_tickets", kind="mode", value="tickets", allowed=("disabled", "tickets", "both"))
    plan, override = Layer(True, "both", rollout_percent=50, rollout_by="user"), Layer(None, "disabled", rollout_percent=20, rollout_by="user")
    split = resolve_split(f, plan, override, active=True, bot_id=None)
    assert (split.base.value, split.rolled) == ("tickets", True)
    assert [(upto, eff.value, eff.enabled) for upto, eff in split.splits] == [(20, None, False), (50, "both", True)]
    # an inactive subscription: off for everybody, no split
    inactive = resolve_split(f, plan, override, active=False, bot_id=None)
    assert (inactive.base.enabled, inactive.splits, inactive.rolled) == (False, [], False)
    # a tenant-sticky rollout needs the bot, and decides once
    tenant_layer = Layer(True, "both", rollout_percent=50)
    with pytest.raises(ValueError):
        resolve_split(f, tenant_layer, None, active=True, bot_id=None)
    for bot_id in range(1, 30):
        decided = resolve_split(f, tenant_layer, None, active=True, bot_id=bot_id)
        assert decided.base.value == ("both" if in_rollout("support_tickets", str(bot_id), 50) else "tickets")
        assert decided.splits == [] and decided.rolled
