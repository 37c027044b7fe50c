"""A tenant's flags in the shape of OFREP 0.3.0 (the OpenFeature Remote Evaluation Protocol).

A switch evaluates to a boolean, a mode to its string value, and `{key}.config` to the merged
config object without secret keys. The reason says where the value came from: STATIC (the
catalogue default or the plan), TARGETING_MATCH (a master override), SPLIT (a rollout decided it),
DISABLED (the subscription is not active, so every flag is off). A user-sticky rollout is decided by
the evaluation context's `targetingKey`; without one, the end user is in no rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenantctl.flags.keys import is_sensitive_key
from tenantctl.flags.usage import usage_result

CONFIG_SUFFIX = ".config"
REASONS = {"default": "STATIC", "plan": "STATIC", "override": "TARGETING_MATCH"}


def _variant(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "config" if isinstance(value, dict) else str(value)


def _bodies(key: str, value: Any, config: dict[str, Any], reason: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The OFREP bodies of a feature's value and of its `.config`."""
    config = {name: item for name, item in (config or {}).items() if not is_sensitive_key(name)}
    return [{"key": flag, "value": shown, "reason": reason, "variant": _variant(shown), "metadata": metadata}
            for flag, shown in ((key, value), (key + CONFIG_SUFFIX, config))]


@dataclass(frozen=True)
class Evaluations:
    """A tenant's OFREP answers: by OFREP key; the usage result of each feature's value (`results`, no `.config`);
    and for keys under a user-sticky rollout, the answers by bucket (`splits`: OFREP key -> (feature key, ascending
    (upto, body, result or None for a `.config`)); a bucket above every `upto` gets `by_key`'s)."""

    by_key: dict[str, dict[str, Any]]
    results: dict[str, str]
    splits: dict[str, tuple[str, list[tuple[int, dict[str, Any], str | None]]]]


def evaluations(rows: list[dict[str, Any]], *, active: bool) -> Evaluations:
    """Every flag of a tenant (its `explain_bot_flags` rows), by OFREP key, as OFREP success bodies."""
    found: dict[str, dict[str, Any]] = {}
    results: dict[str, str] = {}
    splits: dict[str, tuple[str, list[tuple[int, dict[str, Any], str | None]]]] = {}
    for row in rows:
        if row["master_only"] or not row["present"]:
            continue
        if not active:
            reason = "DISABLED"
        else:
            reason = "SPLIT" if row["rolled_out"] else REASONS.get(row["source"], "STATIC")
        metadata = {"source": row["source"], "category": row["category"]}
        for body in _bodies(row["key"], row["value"], row["config"], reason, metadata):
            found[body["key"]] = body
        results[row["key"]] = usage_result(row["enabled"], row["value"])
        by_bucket = [(split["upto"], _bodies(row["key"], split["value"], split["config"], reason, metadata),
                      usage_result(split["enabled"], split["value"])) for split in row["user_splits"] or ()]
        if by_bucket:
            splits[row["key"]] = (row["key"], [(upto, bodies[0], result) for upto, bodies, result in by_bucket])
            splits[row["key"] + CONFIG_SUFFIX] = (row["key"], [(upto, bodies[1], None) for upto, bodies, _ in by_bucket])
    return Evaluations(found, results, splits)
