"""the tenant storefront: orders of end users, VPN panel jobs, a user's panel account, trial and inviter, a subscription's link

Revision ID: 0011
Revises: 0010
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tenantctl.core.db

revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_at", tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
            sa.Column("updated_at", tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False)]


def upgrade() -> None:
    # plain ADD COLUMN, never a batch rebuild: on SQLite a rebuild would break 0010's triggers on these tables
    op.add_column("users", sa.Column("panel_uuid", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("trial_used_at", tenantctl.core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("referred_by_id", sa.Integer(), nullable=True))
    op.add_column("subscriptions", sa.Column("subscription_url", sa.String(512), nullable=True))
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("bot_plan_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("amount_kopeks", sa.BigInteger(), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=True),
        sa.Column("card_id", sa.Integer(), nullable=True),
        sa.Column("receipt", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("reviewed_by", sa.BigInteger(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("method IN ('telegram_stars', 'card_to_card')", name=op.f("ck_orders_method")),
        sa.CheckConstraint("status IN ('pending', 'awaiting_review', 'paid', 'rejected', 'cancelled')", name=op.f("ck_orders_status")),
        sa.CheckConstraint("amount_kopeks >= 0", name=op.f("ck_orders_amount_not_negative")),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_orders_bot_id_bots"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_orders_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["bot_plan_id"], ["bot_plans.id"], name=op.f("fk_orders_bot_plan_id_bot_plans"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["card_id"], ["tenant_payment_cards.id"], name=op.f("fk_orders_card_id_tenant_payment_cards"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index("ix_orders_bot_status", "orders", ["bot_id", "status"])
    op.create_index(op.f("ix_orders_user_id"), "orders", ["user_id"])
    op.create_table(
        "panel_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("link_sent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("action IN ('sync', 'disable')", name=op.f("ck_panel_jobs_action")),
        sa.CheckConstraint("status IN ('pending', 'done')", name=op.f("ck_panel_jobs_status")),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_panel_jobs_bot_id_bots"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"], name=op.f("fk_panel_jobs_subscription_id_subscriptions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_panel_jobs")),
    )
    op.create_index("ix_panel_jobs_due", "panel_jobs", ["status", "next_attempt_at"])
    op.create_index(op.f("ix_panel_jobs_subscription_id"), "panel_jobs", ["subscription_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_panel_jobs_subscription_id"), table_name="panel_jobs")
    op.drop_index("ix_panel_jobs_due", table_name="panel_jobs")
    op.drop_table("panel_jobs")
    op.drop_index(op.f("ix_orders_user_id"), table_name="orders")
    op.drop_index("ix_orders_bot_status", table_name="orders")
    op.drop_table("orders")
    op.drop_column("subscriptions", "subscription_url")
    for column in ("referred_by_id", "trial_used_at", "panel_uuid"):
        op.drop_column("users", column)  # SQLite drops a column in place (3.35+): 0010's triggers stay
