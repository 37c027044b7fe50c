"""gradual rollouts on grants and overrides, per-user splits of the effective flags, daily flag-evaluation counts

Revision ID: 0007
Revises: 0006
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    for table in ("plan_feature_grants", "tenant_feature_overrides"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("rollout_percent", sa.Integer(), nullable=True))  # NULL: no rollout (everyone)
            batch.add_column(sa.Column("rollout_by", sa.String(8), server_default="tenant", nullable=False))
            batch.create_check_constraint(op.f(f"ck_{table}_rollout_percent"), "rollout_percent BETWEEN 0 AND 100")
            batch.create_check_constraint(op.f(f"ck_{table}_rollout_by"), "rollout_by IN ('tenant', 'user')")
    with op.batch_alter_table("bot_feature_flags") as batch:
        # per-user rollouts: [{"upto": bucket, "enabled", "value", "config"}], first match; NULL: none
        batch.add_column(sa.Column("user_splits", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True))
    op.create_table(
        "flag_usage_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("feature_key", sa.String(100), nullable=False),
        sa.Column("result", sa.String(64), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_flag_usage_daily_bot_id_bots"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("day", "bot_id", "feature_key", "result", name=op.f("pk_flag_usage_daily")),
    )


def downgrade() -> None:
    op.drop_table("flag_usage_daily")
    with op.batch_alter_table("bot_feature_flags") as batch:
        batch.drop_column("user_splits")
    for table in ("tenant_feature_overrides", "plan_feature_grants"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_rollout_by"), type_="check")
            batch.drop_constraint(op.f(f"ck_{table}_rollout_percent"), type_="check")
            batch.drop_column("rollout_by")
            batch.drop_column("rollout_percent")
