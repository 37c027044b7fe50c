"""Tenant subscription plans and their feature grants. Every change recomputes the flags it touches."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.audit.service import record
from tenantctl.core.db import utcnow
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.core.text import suggest
from tenantctl.flags.models import Feature
from tenantctl.flags.rollout import validated_rollout
from tenantctl.flags.service import get_feature, validated_layer
from tenantctl.plans.effective import lock_plans, recompute_flags
from tenantctl.plans.models import (
    PlanFeatureGrant,
    TenantSubscription,
    TenantSubscriptionPlan,
)
from tenantctl.plans.schemas import PLAN_FIELDS, grant_as_dict, plan_as_dict

DEFAULT_SEED_PATH = Path(__file__).resolve().parent / "seed.yaml"


async def list_plans(session: AsyncSession, *, include_archived: bool = True) -> list[TenantSubscriptionPlan]:
    """Plans in display order; archived ones only when asked."""
    query = select(TenantSubscriptionPlan).order_by(TenantSubscriptionPlan.sort_order, TenantSubscriptionPlan.id)
    if not include_archived:
        query = query.where(TenantSubscriptionPlan.is_active.is_(True))
    return list((await session.scalars(query)).all())


async def get_plan(session: AsyncSession, name: str) -> TenantSubscriptionPlan:
    """The plan called `name` (case-insensitive), or NotFound with a suggestion."""
    wanted = name.strip().lower()
    plan = await session.scalar(select(TenantSubscriptionPlan).where(func.lower(TenantSubscriptionPlan.name) == wanted))
    if plan is None:
        names = list((await session.scalars(select(TenantSubscriptionPlan.name))).all())
        raise NotFound(f"no plan {name!r}{suggest(wanted, names)}")
    return plan


def _check_plan_fields(changes: dict[str, Any]) -> None:
    unknown = set(changes) - set(PLAN_FIELDS)
    if unknown:
        raise Invalid(f"unknown plan field(s): {', '.join(sorted(unknown))}")
    for money in ("monthly_price_kopeks", "activation_fee_kopeks"):
        if money in changes and (not isinstance(changes[money], int) or changes[money] < 0):
            raise Invalid(f"{money} must be a whole, non-negative number of kopeks")
    share = changes.get("revenue_share_percent")
    if share is not None and (not isinstance(share, int) or not 0 <= share <= 100):
        raise Invalid("revenue_share_percent must be a whole number from 0 to 100")
    if "display_name" in changes and not str(changes["display_name"]).strip():
        raise Invalid("display_name must not be empty")


async def create_plan(session: AsyncSession, *, name: str, actor: str, **fields: Any) -> TenantSubscriptionPlan:
    """Create a plan; its name is unique."""
    name = name.strip().lower()
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise Invalid(f"plan name {name!r} must be letters, digits, - or _")
    fields.setdefault("display_name", name.title())
    fields.setdefault("monthly_price_kopeks", 0)
    _check_plan_fields(fields)
    if await session.scalar(select(TenantSubscriptionPlan.id).where(TenantSubscriptionPlan.name == name)):
        raise Conflict(f"plan {name!r} exists already")
    plan = TenantSubscriptionPlan(name=name, **fields)
    session.add(plan)
    await session.flush()
    await record(session, actor=actor, action="plan.create", entity=f"plan:{name}", after=plan_as_dict(plan))
    return plan


async def edit_plan(session: AsyncSession, *, name: str, actor: str, **changes: Any) -> TenantSubscriptionPlan:
    """Change a plan's fields; its tenants' flags follow in the same transaction."""
    _check_plan_fields(changes)
    plan = await get_plan(session, name)
    before = plan_as_dict(plan)
    for key, value in changes.items():
        setattr(plan, key, value)
    await session.flush()
    if before != plan_as_dict(plan):
        await record(session, actor=actor, action="plan.edit", entity=f"plan:{plan.name}", before=before, after=plan_as_dict(plan))
        if before["grants_all_features"] != plan.grants_all_features:
            await recompute_flags(session, plan_ids=[plan.id])
    return plan


async def archive_plan(session: AsyncSession, *, name: str, actor: str) -> TenantSubscriptionPlan:
    """Hide a plan from new registrations; tenants already on it stay."""
    return await edit_plan(session, name=name, actor=actor, is_active=False)


def _grant_state(grant: PlanFeatureGrant) -> dict[str, Any]:
    """A grant as audited: its layer and its rollout."""
    return {**grant_as_dict(grant), "rollout_percent": grant.rollout_percent, "rollout_by": grant.rollout_by}


async def set_grant(
    session: AsyncSession,
    *,
    plan: str,
    feature: str,
    actor: str,
    enabled: bool = True,
    value: str | None = None,
    config: dict[str, Any] | None = None,
    rollout_percent: int | None = None,
    rollout_by: str | None = None,
) -> PlanFeatureGrant:
    """Grant (or explicitly deny) a feature on a plan, to all its tenants or to a rollout's share; they follow."""
    plan_row = await get_plan(session, plan)
    rollout_percent, rollout_by = validated_rollout(rollout_percent, rollout_by)
    feature_row, layer = await validated_layer(session, feature=feature, enabled=enabled, value=value, config=config)
    await lock_plans(session, [plan_row.id], share=False)  # the plan's grant changes one at a time, a new grant too
    grant = await session.get(PlanFeatureGrant, (plan_row.id, feature_row.key), with_for_update=True,
                              populate_existing=True)
    before = _grant_state(grant) if grant else None
    if grant is None:
        grant = PlanFeatureGrant(plan_tier_id=plan_row.id, feature_key=feature_row.key)
        session.add(grant)
    grant.enabled, grant.value, grant.config_override = layer.enabled, layer.value, layer.config
    grant.rollout_percent, grant.rollout_by = rollout_percent, rollout_by
    await session.flush()
    after = _grant_state(grant)
    if before != after:
        plan_row.grants_edited_at = utcnow()
        await record(session, actor=actor, action="grant.set", entity=f"plan:{plan_row.name}/{feature_row.key}", before=before, after=after)
        await recompute_flags(session, plan_ids=[plan_row.id], feature_keys=[feature_row.key])
    return grant


async def revoke_grant(session: AsyncSession, *, plan: str, feature: str, actor: str) -> None:
    """Remove a plan's grant: the feature falls back to the catalogue default for its tenants."""
    plan_row = await get_plan(session, plan)
    feature_row = await get_feature(session, feature)
    await lock_plans(session, [plan_row.id], share=False)
    grant = await session.get(PlanFeatureGrant, (plan_row.id, feature_row.key), with_for_update=True,
                              populate_existing=True)
    if grant is None:
        raise NotFound(f"plan {plan_row.name!r} has no grant for {feature_row.key!r}")
    await record(session, actor=actor, action="grant.revoke", entity=f"plan:{plan_row.name}/{feature_row.key}", before=_grant_state(grant))
    await session.delete(grant)
    plan_row.grants_edited_at = utcnow()
    await session.flush()
    await recompute_flags(session, plan_ids=[plan_row.id], feature_keys=[feature_row.key])


async def grants_matrix(session: AsyncSession, *, plan: str | None = None) -> dict[str, Any]:
    """Features by plans: {"plans": [...], "features": [{"key", "category", "grants": {plan: cell}}]}.

    A cell is the grant's value (mode), True/False (switch), "all" for an implicit all-features grant,
    or None when the plan says nothing (the catalogue default applies).
    """
    plans = [await get_plan(session, plan)] if plan else await list_plans(session)
    grants = {
        (g.plan_tier_id, g.feature_key): g
        for g in (await session.scalars(select(PlanFeatureGrant).where(PlanFeatureGrant.plan_tier_id.in_([p.id for p in plans])))).all()
    }
    features = (await session.scalars(select(Feature).order_by(Feature.category, Feature.key))).all()
    rows = []
    for feature in features:
        cells = {}
        for p in plans:
            grant = grants.get((p.id, feature.key))
            if feature.master_only:
                cells[p.name] = None
            elif grant is not None:
                cells[p.name] = {"enabled": grant.enabled, "value": grant.value, "config": grant.config_override,
                                 "rollout_percent": grant.rollout_percent, "rollout_by": grant.rollout_by}
            elif p.grants_all_features:
                cells[p.name] = {"enabled": True, "value": None, "config": {}, "implicit": True}
            else:
                cells[p.name] = None
        rows.append({"key": feature.key, "category": feature.category, "present": feature.is_present,
                     "master_only": feature.master_only, "grants": cells})
    return {"plans": [p.name for p in plans], "features": rows}


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    reset: list[str] = field(default_factory=list)
    added: dict[str, list[str]] = field(default_factory=dict)  # plan -> seed features that reached the catalogue since
    edited: dict[str, list[str]] = field(default_factory=dict)  # plan whose grants were edited -> seed features not added
    skipped_features: list[str] = field(default_factory=list)  # plan/feature not in the catalogue, or master-only

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form of the report."""
        return asdict(self)


def _seed_grant(plan_id: int, key: str, grant: Any) -> PlanFeatureGrant:
    if isinstance(grant, dict):
        return PlanFeatureGrant(plan_tier_id=plan_id, feature_key=key, enabled=bool(grant.get("enabled", True)),
                                value=grant.get("value"), config_override=grant.get("config") or {})
    return PlanFeatureGrant(plan_tier_id=plan_id, feature_key=key, enabled=bool(grant))


async def seed_plans(session: AsyncSession, *, plans: list[dict[str, Any]], actor: str, reset: bool = False) -> SeedReport:
    """Create the missing seed plans and give unedited ones the seed features the catalogue gained since;
    plans whose grants were edited are left alone; with reset, put existing ones back to the seed."""
    report = SeedReport()
    master_only = {key: flag for key, flag in (await session.execute(select(Feature.key, Feature.master_only))).all()}
    for spec in plans:
        spec = dict(spec)
        name = str(spec.pop("name", "")).strip().lower()
        features = spec.pop("features", {}) or {}
        spec["grants_all_features"] = bool(spec.pop("all_features", spec.get("grants_all_features", False)))
        plan = await session.scalar(select(TenantSubscriptionPlan).where(TenantSubscriptionPlan.name == name))
        kept = plan is not None and not reset
        if plan is None:
            plan = await create_plan(session, name=name, actor=actor, **spec)
            report.created.append(name)
        elif reset:
            plan = await edit_plan(session, name=name, actor=actor, **spec)
            await session.execute(delete(PlanFeatureGrant).where(PlanFeatureGrant.plan_tier_id == plan.id))
            plan.grants_edited_at = None
            report.reset.append(name)
        have = set((await session.scalars(select(PlanFeatureGrant.feature_key).where(PlanFeatureGrant.plan_tier_id == plan.id))).all())
        missing = [key for key in features if key not in have]
        grantable = [key for key in missing if master_only.get(key) is False]
        report.skipped_features += [f"{name}/{key}" for key in missing if key not in grantable]
        if kept and not grantable:
            report.unchanged.append(name)
            continue
        if kept and plan.grants_edited_at is not None:
            report.edited[name] = grantable
            continue
        if kept:
            report.added[name] = grantable
        session.add_all(_seed_grant(plan.id, key, features[key]) for key in grantable)
        await session.flush()
        await recompute_flags(session, plan_ids=[plan.id])
    if report.created or report.reset or report.added:
        await record(session, actor=actor, action="plans.seed", entity="plans",
                     after={"created": report.created, "reset": report.reset, "added": report.added})
    return report


async def change_tenant_plan(session: AsyncSession, *, bot_id: int, plan: str, actor: str) -> TenantSubscription:
    """Move a tenant to another (not archived) plan; its flags follow in the same transaction (overrides stay)."""
    plan_row = await get_plan(session, plan)
    subscription = await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == bot_id).with_for_update())
    if subscription is None:
        raise NotFound(f"bot {bot_id} has no subscription")
    if subscription.plan_tier_id == plan_row.id:
        return subscription
    if not plan_row.is_active:
        raise Invalid(f"plan {plan_row.name!r} is archived: no tenant moves onto it")
    # the plan it leaves, locked as its recompute locks the one it joins: a grant change of either goes first or waits
    (old,) = await lock_plans(session, [subscription.plan_tier_id], share=True)
    subscription.plan_tier_id = plan_row.id
    await session.flush()
    await record(session, actor=actor, action="tenant.set_plan", entity=f"bot:{bot_id}", bot_id=bot_id,
                 before={"plan": old.name}, after={"plan": plan_row.name})
    await recompute_flags(session, bot_ids=[bot_id])
    return subscription


def load_plan_seed(path: str | Path = DEFAULT_SEED_PATH) -> list[dict[str, Any]]:
    """Read the `plans:` list from a YAML or JSON seed file."""
    import json

    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise Invalid(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise Invalid(f"{path} is not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {str(exc).splitlines()[0]}") from None
    plans = data.get("plans") if isinstance(data, dict) else None
    if not isinstance(plans, list) or not all(isinstance(p, dict) and p.get("name") for p in plans):
        raise Invalid(f"{path} must hold `plans:`, a list of plans each with a name")
    return plans
