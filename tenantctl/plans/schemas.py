"""Read shapes of the plans domain."""

from __future__ import annotations

from typing import Any

from tenantctl.plans.models import PlanFeatureGrant, TenantSubscriptionPlan

PLAN_FIELDS = ("display_name", "monthly_price_kopeks", "activation_fee_kopeks", "revenue_share_percent", "description", "sort_order",
               "is_active", "grants_all_features")


def plan_as_dict(plan: TenantSubscriptionPlan) -> dict[str, Any]:
    """JSON-ready form of a plan."""
    return {"name": plan.name, **{f: getattr(plan, f) for f in PLAN_FIELDS}}


def grant_as_dict(grant: PlanFeatureGrant) -> dict[str, Any]:
    """JSON-ready form of a grant."""
    return {"enabled": grant.enabled, "value": grant.value, "config": grant.config_override}
