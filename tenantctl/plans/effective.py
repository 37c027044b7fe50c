"""Effective flags of every tenant: the catalogue, its plan's grants and its overrides, resolved ahead of reads.

`bot_feature_flags` is a view (migration 0009) over two tables this module writes:
- `plan_feature_flags`, each plan's snapshot: one row per feature for its tenants with an active subscription and
  one for the others (everything off). A grant change rewrites that feature's two rows, whatever the tenants.
- `bot_flag_exceptions`, a bot's row where its answer differs from its plan's snapshot: a live override, or a
  grant's tenant-sticky rollout that takes the bot in (decided here by bot id, so those rows grow with the
  rollout's members, and deciding them reads the plan's bot ids). The view uses them while the subscription is
  active, so a suspension or a renewal changes the answers without a write.
A user-sticky rollout is stored as `user_splits` on either. Every domain that changes an input (catalogue,
grant, plan, override, subscription) calls `recompute_flags` in its own transaction; its statement count does
not grow with the tenants.

Locks: a plan-wide recompute locks its plans' rows (FOR NO KEY UPDATE); a recompute for some bots locks their
subscriptions (in bot order), then their plans' rows FOR SHARE, so it never interleaves with a grant change of
the same plan, and a tenant moving between plans locks the plan it leaves the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from sqlalchemy import and_, delete, func, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.db import conflict_insert, utcnow
from tenantctl.flags.catalogue import mode_off_value
from tenantctl.flags.live import notify_flags_changed
from tenantctl.flags.models import BotFlagException, Feature, TenantFeatureOverride
from tenantctl.flags.resolution import Effective, Layer, Split, resolve, resolve_split
from tenantctl.flags.rollout import in_rollout
from tenantctl.flags.service import SyncReport, store_catalogue
from tenantctl.plans.models import PlanFeatureFlag, PlanFeatureGrant, TenantSubscription, TenantSubscriptionPlan

if TYPE_CHECKING:
    from tenantctl.flags.catalogue import Catalogue

ANSWER = ("enabled", "value", "config", "source", "user_splits")  # the columns of an answer, in either table


def plan_layer_for(plan: TenantSubscriptionPlan, feature: Feature, grant: PlanFeatureGrant | None) -> Layer | None:
    """The plan's layer: its explicit grant, or an implicit 'on' for all-features plans; none for a master-only feature."""
    if feature.master_only:
        return None
    if grant is not None:
        return Layer(grant.enabled, grant.value if grant.enabled else None, grant.config_override,
                     grant.rollout_percent, grant.rollout_by)
    if plan.grants_all_features:
        return Layer(True)
    return None


def override_layer_for(override: TenantFeatureOverride | None, now: datetime) -> Layer | None:
    """The override's layer, or None when there is none or it has expired."""
    if override is None or (override.expires_at is not None and override.expires_at <= now):
        return None
    return Layer(override.enabled, override.value, override.config_override, override.rollout_percent,
                 override.rollout_by)


def tenant_split(feature: Feature, plan_layer: Layer | None, override: Layer | None, *, active: bool,
                 bot_id: int | None) -> Split:
    """A tenant's effective flag: the three layers and their rollouts, except that a master-only feature is off."""
    if feature.master_only:
        return Split(resolve(feature, None, None, active=False))
    return resolve_split(feature, plan_layer, override, active=active, bot_id=bot_id)


def tenant_flag(feature: Feature, plan_layer: Layer | None, override: Layer | None, *, active: bool,
                bot_id: int) -> Effective:
    """A tenant's effective flag for its end users in no user-sticky rollout."""
    return tenant_split(feature, plan_layer, override, active=active, bot_id=bot_id).base


def user_splits(split: Split) -> list[dict[str, Any]] | None:
    """The `user_splits` column of a bot's flag: the answers by bucket of its user-sticky rollouts, or None."""
    return [{"upto": upto, "enabled": eff.enabled, "value": eff.value, "config": eff.config}
            for upto, eff in split.splits] or None


def _answer(split: Split) -> dict[str, Any]:
    """A split as stored: the columns of `ANSWER`."""
    base = split.base
    return {"enabled": base.enabled, "value": base.value, "config": base.config, "source": base.source,
            "user_splits": user_splits(split)}


def _tenant_sticky(layer: Layer | None) -> bool:
    return layer is not None and layer.rollout_percent is not None and layer.rollout_by == "tenant"


async def lock_plans(session: AsyncSession, plan_ids: Iterable[int], *, share: bool) -> list[TenantSubscriptionPlan]:
    """Lock plans (by id) and read them fresh: FOR SHARE to recompute some of their tenants, else to rewrite them."""
    query = select(TenantSubscriptionPlan).where(TenantSubscriptionPlan.id.in_(sorted(set(plan_ids))))
    return await _locked_plans(session, query, share=share)


async def _locked_plans(session: AsyncSession, query: Any, *, share: bool) -> list[TenantSubscriptionPlan]:
    query = query.order_by(TenantSubscriptionPlan.id).execution_options(populate_existing=True)
    query = query.with_for_update(read=True) if share else query.with_for_update(key_share=True)
    return list((await session.scalars(query)).all())


async def recompute_flags(
    session: AsyncSession,
    *,
    bot_ids: Iterable[int] | None = None,
    plan_ids: Iterable[int] | None = None,
    feature_keys: Iterable[str] | None = None,
    now: datetime | None = None,
) -> None:
    """Bring in line with their inputs the snapshots of the plans in scope and the exceptions of their tenants in
    scope, for the features in scope (None: all). With `bot_ids`, only their plans' snapshot rows that are
    missing or stale are written."""
    now = now or utcnow()
    bot_ids = None if bot_ids is None else sorted(set(bot_ids))
    plan_ids = None if plan_ids is None else sorted(set(plan_ids))
    keys = None if feature_keys is None else sorted(set(feature_keys))
    if bot_ids == [] or plan_ids == [] or keys == []:
        return

    in_scope = []
    if bot_ids is not None:
        in_scope.append(TenantSubscription.bot_id.in_(bot_ids))
    if plan_ids is not None:
        in_scope.append(TenantSubscription.plan_tier_id.in_(plan_ids))
    sub_filter = and_(*in_scope) if in_scope else literal(True)

    features = list((await session.scalars(select(Feature).order_by(Feature.key))).all())
    if keys is not None:
        wanted = set(keys)
        features = [f for f in features if f.key in wanted]
    if not features:
        return

    if bot_ids is None:
        plan_query = select(TenantSubscriptionPlan)
        if plan_ids is not None:
            plan_query = plan_query.where(TenantSubscriptionPlan.id.in_(plan_ids))
        plans = await _locked_plans(session, plan_query, share=False)
    else:
        # the tenants first, in bot order (tenants.locks' order), then their plans
        await session.execute(
            select(TenantSubscription.id).where(sub_filter).order_by(TenantSubscription.bot_id).with_for_update()
        )
        scoped_plans = select(TenantSubscription.plan_tier_id).where(sub_filter)
        plans = await _locked_plans(session, select(TenantSubscriptionPlan).where(TenantSubscriptionPlan.id.in_(scoped_plans)),
                                    share=True)
    rewritten = await _recompute(session, plans, features, sub_filter, now)
    await notify_flags_changed(session, bot_ids=None if bot_ids is None or rewritten else bot_ids)


async def _recompute(session: AsyncSession, plans: list[TenantSubscriptionPlan], features: list[Feature], sub_filter: Any,
                     now: datetime) -> bool:
    """Write the plans' snapshots of `features` and the exceptions of the tenants in scope; whether a snapshot changed."""
    keys = [f.key for f in features]
    by_key = {f.key: f for f in features}
    grants = {
        (g.plan_tier_id, g.feature_key): g
        for g in (await session.scalars(select(PlanFeatureGrant).where(
            PlanFeatureGrant.plan_tier_id.in_([p.id for p in plans]), PlanFeatureGrant.feature_key.in_(keys)))).all()
    }
    layers = {(plan.id, f.key): plan_layer_for(plan, f, grants.get((plan.id, f.key))) for plan in plans for f in features}
    snapshots = {}
    for (plan_id, key), layer in layers.items():
        outside = None if _tenant_sticky(layer) else layer  # outside a tenant-sticky rollout: as without the grant
        for active in (True, False):
            snapshots[(plan_id, active, key)] = _answer(tenant_split(by_key[key], outside, None, active=active, bot_id=None))
    rewritten = await _store_snapshots(session, snapshots)

    exceptions = BotFlagException.__table__
    scoped_bots = select(TenantSubscription.bot_id).where(sub_filter)
    await session.execute(delete(exceptions).where(exceptions.c.feature_key.in_(keys), exceptions.c.bot_id.in_(scoped_bots)))
    overrides = {
        (override.bot_id, override.feature_key): (override, plan_id)
        for override, plan_id in (await session.execute(
            select(TenantFeatureOverride, TenantSubscription.plan_tier_id)
            .join(TenantSubscription, TenantSubscription.bot_id == TenantFeatureOverride.bot_id)
            .where(sub_filter, TenantFeatureOverride.feature_key.in_(keys),
                   or_(TenantFeatureOverride.expires_at.is_(None), TenantFeatureOverride.expires_at > now)))).all()
    }
    candidates = {bot_key: plan_id for bot_key, (_, plan_id) in overrides.items()}
    rolled_out = {plan_key: layer for plan_key, layer in layers.items() if _tenant_sticky(layer)}
    if rolled_out:  # a grant's tenant-sticky rollout: its members, by bot id
        on_plans = select(TenantSubscription.bot_id, TenantSubscription.plan_tier_id).where(
            sub_filter, TenantSubscription.plan_tier_id.in_({plan_id for plan_id, _ in rolled_out}))
        for bot_id, plan_id in (await session.execute(on_plans)).all():
            for (rolled_plan, key), layer in rolled_out.items():
                if rolled_plan == plan_id and in_rollout(key, str(bot_id), layer.rollout_percent):
                    candidates[(bot_id, key)] = plan_id
    rows = []
    for (bot_id, key), plan_id in sorted(candidates.items()):
        override = overrides.get((bot_id, key), (None, None))[0]
        answer = _answer(tenant_split(by_key[key], layers[(plan_id, key)], override_layer_for(override, now),
                                      active=True, bot_id=bot_id))
        if answer != snapshots[(plan_id, True, key)]:
            rows.append({"bot_id": bot_id, "feature_key": key, **answer})
    if rows:
        await session.execute(insert(exceptions), rows)
    return rewritten


async def _store_snapshots(session: AsyncSession, snapshots: dict[tuple[int, bool, str], dict[str, Any]]) -> bool:
    """Upsert the snapshot rows that are missing or differ from `snapshots`; whether any was."""
    if not snapshots:
        return False
    table = PlanFeatureFlag.__table__
    stored = {
        (plan_id, bool(active), key): dict(zip(ANSWER, answer, strict=True))
        for plan_id, active, key, *answer in (await session.execute(
            select(table.c.plan_tier_id, table.c.active, table.c.feature_key, *(table.c[name] for name in ANSWER))
            .where(table.c.plan_tier_id.in_({plan_id for plan_id, _, _ in snapshots}),
                   table.c.feature_key.in_({key for _, _, key in snapshots})))).all()
    }
    stale = [{"plan_tier_id": plan_id, "active": active, "feature_key": key, **answer}
             for (plan_id, active, key), answer in sorted(snapshots.items()) if stored.get((plan_id, active, key)) != answer]
    if not stale:
        return False
    upsert = conflict_insert(session.bind.dialect.name, table)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[table.c.plan_tier_id, table.c.active, table.c.feature_key],
            set_={**{name: upsert.excluded[name] for name in ANSWER}, "updated_at": func.now()},
        ),
        stale,
    )
    return True


def _shown(feature: Feature, eff: Effective) -> bool | str | None:
    """What an answer shows: a switch's on/off, a mode's value (its off value when off)."""
    if feature.kind == "mode":
        return eff.value if eff.enabled else mode_off_value(feature.allowed_values)
    return eff.enabled


async def explain_bot_flags(session: AsyncSession, *, bot_id: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every feature for one bot with each layer shown: default, plan_value, override_value, value, source,
    each layer's rollout, and the answers of end users in a user-sticky rollout (`user_splits`)."""
    now = now or utcnow()
    subscription = await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == bot_id))
    plan = await session.get(TenantSubscriptionPlan, subscription.plan_tier_id) if subscription else None
    grants = {}
    if plan is not None:
        grants = {
            g.feature_key: g
            for g in (await session.scalars(select(PlanFeatureGrant).where(PlanFeatureGrant.plan_tier_id == plan.id))).all()
        }
    overrides = {
        o.feature_key: o
        for o in (await session.scalars(select(TenantFeatureOverride).where(TenantFeatureOverride.bot_id == bot_id))).all()
    }
    active = subscription is not None and subscription.status == "active"
    rows = []
    for feature in (await session.scalars(select(Feature).order_by(Feature.category, Feature.key))).all():
        plan_layer = plan_layer_for(plan, feature, grants.get(feature.key)) if plan else None
        override = overrides.get(feature.key)
        override_layer = override_layer_for(override, now)
        split = tenant_split(feature, plan_layer, override_layer, active=active, bot_id=bot_id)
        eff = split.base
        rows.append(
            {
                "key": feature.key,
                "category": feature.category,
                "kind": feature.kind,
                "default_value": feature.default_value if feature.kind == "mode" else feature.default_enabled,
                "plan_value": plan_layer.shown() if plan_layer else None,
                "override_value": override_layer.shown() if override_layer else None,
                "plan_rollout": plan_layer.rollout(feature.key, bot_id) if plan_layer else None,
                "override_rollout": override_layer.rollout(feature.key, bot_id) if override_layer else None,
                "override_expired": override is not None and override_layer is None,
                "value": _shown(feature, eff),
                "enabled": eff.enabled,
                "source": eff.source,
                "config": eff.config,
                "rolled_out": split.rolled,
                "user_splits": [{"upto": upto, "value": _shown(feature, answer), "enabled": answer.enabled,
                                 "config": answer.config} for upto, answer in split.splits] or None,
                "present": feature.is_present,
                "master_only": feature.master_only,
            }
        )
    return rows


async def sync_catalogue(session: AsyncSession, *, catalogue: "Catalogue", actor: str, source: str = "") -> SyncReport:
    """Store the extracted catalogue and bring every tenant's flags in line with what changed."""
    report = await store_catalogue(session, catalogue=catalogue, actor=actor, source=source)
    if report.touched:
        await recompute_flags(session, feature_keys=report.touched)
    return report
