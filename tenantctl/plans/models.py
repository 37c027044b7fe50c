"""Tenant subscription plans, their feature grants, their flag snapshots and each tenant's subscription."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from tenantctl.core.db import Base, JSONType, Timestamps, UTCDateTime
from tenantctl.flags.models import FLAG_SOURCES, ROLLOUT_BY, FlagAnswer

SUBSCRIPTION_STATUSES = ("active", "expired", "cancelled")


class TenantSubscriptionPlan(Timestamps, Base):
    """A plan a tenant subscribes to; money in kopeks."""

    __tablename__ = "tenant_subscription_plans"
    __label__ = "plan"  # how errors name its fields
    __table_args__ = (
        CheckConstraint("monthly_price_kopeks >= 0", name="price_not_negative"),
        CheckConstraint("activation_fee_kopeks >= 0", name="fee_not_negative"),
        CheckConstraint("revenue_share_percent BETWEEN 0 AND 100", name="share_is_percent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(255), nullable=False)
    monthly_price_kopeks: Mapped[int] = mapped_column(Integer, nullable=False)
    activation_fee_kopeks: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    # the platform's commission on its tenants' income, in percent (0 to 100)
    revenue_share_percent: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    # Grants every catalogue feature, present and future; explicit grants still refine it.
    grants_all_features: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"), nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    # When a grant was last set or revoked by hand; None: the grants are still the seed's, so
    # `plans seed` adds the seed's features that reach the catalogue later.
    grants_edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PlanFeatureGrant(Timestamps, Base):
    """One feature granted (or explicitly denied) by one plan, with a config override."""

    __tablename__ = "plan_feature_grants"
    __table_args__ = (
        Index("idx_plan_feature_grants_plan", "plan_tier_id"),
        Index(
            "idx_plan_feature_grants_enabled",
            "plan_tier_id",
            "enabled",
            postgresql_where=text("enabled = true"),
            sqlite_where=text("enabled = 1"),
        ),
        CheckConstraint("rollout_percent BETWEEN 0 AND 100", name="rollout_percent"),
        CheckConstraint(f"rollout_by IN {ROLLOUT_BY}", name="rollout_by"),
    )

    plan_tier_id: Mapped[int] = mapped_column(
        ForeignKey("tenant_subscription_plans.id", ondelete="CASCADE"), primary_key=True
    )
    feature_key: Mapped[str] = mapped_column(
        ForeignKey("features.key", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"), nullable=False)
    value: Mapped[str | None] = mapped_column(String(64))  # a mode feature's value
    config_override: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    # the grant applies to this share (0-100) of the ids `rollout_by` names; None: to everyone
    rollout_percent: Mapped[int | None] = mapped_column(Integer)
    rollout_by: Mapped[str] = mapped_column(String(8), default="tenant", server_default="tenant", nullable=False)


class PlanFeatureFlag(FlagAnswer, Base):
    """A plan's answer for one feature, for its tenants with an active subscription and for the others: every
    tenant's effective flag unless it has an exception (`flags.models.BotFlagException`). Rewritten by
    `plans.effective.recompute_flags` when a grant, the plan or the catalogue changes: two rows, whatever the tenants."""

    __tablename__ = "plan_feature_flags"
    __table_args__ = (CheckConstraint(f"source IN {FLAG_SOURCES[:2]}", name="source"),)  # never an override

    plan_tier_id: Mapped[int] = mapped_column(
        ForeignKey("tenant_subscription_plans.id", ondelete="CASCADE"), primary_key=True
    )
    active: Mapped[bool] = mapped_column(Boolean, primary_key=True)  # the answer for an active subscription
    feature_key: Mapped[str] = mapped_column(
        ForeignKey("features.key", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )


class TenantSubscription(Timestamps, Base):
    """A tenant's subscription to the platform: one per bot."""

    __tablename__ = "tenant_subscriptions"
    __table_args__ = (
        CheckConstraint(f"status IN {SUBSCRIPTION_STATUSES}", name="status"),
        Index("idx_tenant_subscriptions_status", "status"),
        Index("idx_tenant_subscriptions_plan", "plan_tier_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), unique=True, nullable=False)
    plan_tier_id: Mapped[int] = mapped_column(
        ForeignKey("tenant_subscription_plans.id", ondelete="RESTRICT"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active", nullable=False)
    start_date: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(), nullable=False)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    auto_renewal: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"), nullable=False)
    expiry_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the owner was told of this expiry
