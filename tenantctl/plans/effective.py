"""Effective flags of every tenant: the catalogue, its plan's grants and its overrides, materialised.

The result lives in `bot_feature_flags`, recomputed set-based: the plan layer is resolved once per
(plan, feature) in Python, then written for every tenant on that plan by one INSERT ... SELECT;
only the few bots with overrides, and the tenants of a grant with a tenant-sticky rollout (decided
here by bot id), get individual rows. A user-sticky rollout is stored as `user_splits`. The statement count does not grow with the
number of tenants. Every domain that changes an input (catalogue, grant, plan, override,
subscription status) calls `recompute_flags` in its own transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from sqlalchemy import (
    Boolean,
    Integer,
    String,
    and_,
    bindparam,
    column,
    delete,
    insert,
    literal,
    or_,
    select,
    update,
    values,
)
from sqlalchemy.ext.asyncio import AsyncSession

from tenantctl.core.db import JSONType, utcnow
from tenantctl.flags.catalogue import mode_off_value
from tenantctl.flags.live import notify_flags_changed
from tenantctl.flags.models import BotFeatureFlag, Feature, TenantFeatureOverride
from tenantctl.flags.resolution import Effective, Layer, Split, resolve, resolve_split
from tenantctl.flags.service import SyncReport, store_catalogue
from tenantctl.plans.models import PlanFeatureGrant, TenantSubscription, TenantSubscriptionPlan

if TYPE_CHECKING:
    from tenantctl.flags.catalogue import Catalogue


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


def _flag_row(bot_id: int, feature_key: str, split: Split) -> dict[str, Any]:
    base = split.base
    return {"bot_id": bot_id, "feature_key": feature_key, "enabled": base.enabled, "value": base.value,
            "config": base.config, "source": base.source, "user_splits": user_splits(split)}


def _tenant_sticky(layer: Layer | None) -> bool:
    return layer is not None and layer.rollout_percent is not None and layer.rollout_by == "tenant"


MAX_VALUES_ROWS = 4000  # 8 parameters a row: 32,000, under SQLite's 32,766
MAX_FEATURES_PER_STATEMENT = 10_000


async def recompute_flags(
    session: AsyncSession,
    *,
    bot_ids: Iterable[int] | None = None,
    plan_ids: Iterable[int] | None = None,
    feature_keys: Iterable[str] | None = None,
    now: datetime | None = None,
) -> None:
    """Rewrite `bot_feature_flags` for the tenants and features in scope (None: all)."""
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

    scoped_plans = select(TenantSubscription.plan_tier_id).where(sub_filter).distinct()
    plans = list((await session.scalars(select(TenantSubscriptionPlan).where(TenantSubscriptionPlan.id.in_(scoped_plans)))).all())
    # Lock the tenants in scope (in bot order, so two recomputes never deadlock): a concurrent
    # recompute of an overlapping scope waits here instead of inserting rows this one deletes.
    await session.execute(
        select(TenantSubscription.id).where(sub_filter).order_by(TenantSubscription.bot_id).with_for_update()
    )
    # a few statements per chunk of features, each within SQLite's 32,766 bound parameters
    chunk = max(1, min(MAX_FEATURES_PER_STATEMENT, MAX_VALUES_ROWS // max(1, 2 * len(plans))))
    for start in range(0, len(features), chunk):
        await _rewrite(session, plans, features[start:start + chunk], sub_filter, now)
    await notify_flags_changed(session, bot_ids=bot_ids)


async def _rewrite(session: AsyncSession, plans: list[TenantSubscriptionPlan], features: list[Feature], sub_filter: Any,
                   now: datetime) -> None:
    """Delete and insert `features`' rows for the tenants in scope: one INSERT ... SELECT over a VALUES CTE."""
    feature_keys_in_scope = [f.key for f in features]
    grants = {
        (g.plan_tier_id, g.feature_key): g
        for g in (
            await session.scalars(
                select(PlanFeatureGrant).where(
                    PlanFeatureGrant.plan_tier_id.in_([p.id for p in plans]),
                    PlanFeatureGrant.feature_key.in_(feature_keys_in_scope),
                )
            )
        ).all()
    }
    scoped_bots = select(TenantSubscription.bot_id).where(sub_filter)
    await session.execute(
        delete(BotFeatureFlag).where(
            BotFeatureFlag.bot_id.in_(scoped_bots), BotFeatureFlag.feature_key.in_(feature_keys_in_scope)
        )
    )

    plan_layers: dict[tuple[int, str], Layer | None] = {}
    rows = []
    by_bot: list[tuple[Feature, Layer, int]] = []  # grants with a tenant-sticky rollout: decided bot by bot
    for plan in plans:
        for feature in features:
            layer = plan_layers[(plan.id, feature.key)] = plan_layer_for(plan, feature, grants.get((plan.id, feature.key)))
            if _tenant_sticky(layer):
                by_bot.append((feature, layer, plan.id))
                continue
            for active in (True, False):
                split = tenant_split(feature, layer, None, active=active, bot_id=None)
                eff = split.base
                rows.append((plan.id, active, feature.key, eff.enabled, eff.value, eff.config, eff.source,
                             user_splits(split)))
    if by_bot:
        tenants_by_plan: dict[int, list[tuple[int, bool]]] = {}
        for bot_id, plan_id, status in (await session.execute(
                select(TenantSubscription.bot_id, TenantSubscription.plan_tier_id, TenantSubscription.status)
                .where(sub_filter, TenantSubscription.plan_tier_id.in_({plan_id for _, _, plan_id in by_bot})))).all():
            tenants_by_plan.setdefault(plan_id, []).append((bot_id, status == "active"))
        per_bot = [_flag_row(bot_id, feature.key, tenant_split(feature, layer, None, active=active, bot_id=bot_id))
                   for feature, layer, plan_id in by_bot for bot_id, active in tenants_by_plan.get(plan_id, [])]
        if per_bot:
            await session.execute(insert(BotFeatureFlag), per_bot)
    if rows:
        resolved = (
            values(
                column("plan_id", Integer),
                column("active", Boolean),
                column("feature_key", String),
                column("enabled", Boolean),
                column("value", String),
                column("config", JSONType),
                column("source", String),
                column("user_splits", JSONType),
                name="resolved",
            )
            .data(rows)
            .cte("resolved")
        )
        source_rows = (
            select(
                TenantSubscription.bot_id,
                resolved.c.feature_key,
                resolved.c.enabled,
                resolved.c.value,
                resolved.c.config,
                resolved.c.source,
                resolved.c.user_splits,
            )
            .join(resolved, resolved.c.plan_id == TenantSubscription.plan_tier_id)
            .where(sub_filter, resolved.c.active == (TenantSubscription.status == "active"))
        )
        await session.execute(
            insert(BotFeatureFlag).from_select(
                ["bot_id", "feature_key", "enabled", "value", "config", "source", "user_splits"], source_rows
            )
        )
    await _apply_overrides(session, features, plan_layers, sub_filter, now)


async def _apply_overrides(
    session: AsyncSession,
    features: list[Feature],
    plan_layers: dict[tuple[int, str], Layer | None],
    sub_filter: Any,
    now: datetime,
) -> None:
    """Rewrite the rows of bots that have a live override, one batched UPDATE."""
    by_key = {f.key: f for f in features}
    result = await session.execute(
        select(TenantFeatureOverride, TenantSubscription.plan_tier_id)
        .join(TenantSubscription, TenantSubscription.bot_id == TenantFeatureOverride.bot_id)
        .where(
            sub_filter,
            TenantSubscription.status == "active",
            TenantFeatureOverride.feature_key.in_(list(by_key)),
            or_(TenantFeatureOverride.expires_at.is_(None), TenantFeatureOverride.expires_at > now),
        )
    )
    updates = []
    for override, plan_id in result.all():
        feature = by_key[override.feature_key]
        split = tenant_split(feature, plan_layers.get((plan_id, feature.key)), override_layer_for(override, now),
                            active=True, bot_id=override.bot_id)
        row = _flag_row(override.bot_id, override.feature_key, split)
        row["b_bot_id"], row["b_feature_key"] = row.pop("bot_id"), row.pop("feature_key")
        updates.append(row)
    if updates:
        await session.execute(
            update(BotFeatureFlag.__table__)
            .where(
                BotFeatureFlag.__table__.c.bot_id == bindparam("b_bot_id"),
                BotFeatureFlag.__table__.c.feature_key == bindparam("b_feature_key"),
            ),
            updates,
        )


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
