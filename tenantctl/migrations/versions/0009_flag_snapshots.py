"""bot_feature_flags becomes a view: per-plan snapshots (plan_feature_flags) plus per-bot exceptions (bot_flag_exceptions)

A grant change then rewrites its plan's two snapshot rows and the few exceptions instead of one row per tenant.
The existing rows move over exactly: for each plan, feature and subscription state, the snapshot is the answer
its tenants share outside any override and tenant-sticky rollout, and every active tenant's row that differs
from it (or has no snapshot to differ from) becomes an exception. The downgrade writes the view back into a table.

SQLite: a later migration that rebuilds one of the view's tables (batch mode) must drop the view first.

Revision ID: 0009
Revises: 0008
"""
import json
from typing import Sequence, Union

import mmh3
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tenantctl.core.db

revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ANSWER = ("enabled", "value", "config", "source", "user_splits")

VIEW = """
CREATE VIEW bot_feature_flags AS
SELECT e.bot_id, e.feature_key, e.enabled, e.value, e.config, e.source, e.user_splits, e.updated_at
FROM bot_flag_exceptions e
JOIN tenant_subscriptions s ON s.bot_id = e.bot_id AND s.status = 'active'
UNION ALL
SELECT s.bot_id, p.feature_key, p.enabled, p.value, p.config, p.source, p.user_splits, p.updated_at
FROM tenant_subscriptions s
JOIN plan_feature_flags p ON p.plan_tier_id = s.plan_tier_id AND p.active = (s.status = 'active')
WHERE s.status <> 'active'
   OR NOT EXISTS (SELECT 1 FROM bot_flag_exceptions e WHERE e.bot_id = s.bot_id AND e.feature_key = p.feature_key)
"""


def _answer_columns() -> list[sa.Column]:
    return [
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.Column("config", JSON, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("user_splits", JSON, nullable=True),
        sa.Column("updated_at", tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "plan_feature_flags",
        sa.Column("plan_tier_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("feature_key", sa.String(length=100), nullable=False),
        *_answer_columns(),
        sa.CheckConstraint("source IN ('default', 'plan')", name=op.f("ck_plan_feature_flags_source")),
        sa.ForeignKeyConstraint(["feature_key"], ["features.key"], name=op.f("fk_plan_feature_flags_feature_key_features"),
                                onupdate="CASCADE", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["plan_tier_id"], ["tenant_subscription_plans.id"],
                                name=op.f("fk_plan_feature_flags_plan_tier_id_tenant_subscription_plans"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("plan_tier_id", "active", "feature_key", name=op.f("pk_plan_feature_flags")),
    )
    op.create_table(
        "bot_flag_exceptions",
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("feature_key", sa.String(length=100), nullable=False),
        *_answer_columns(),
        sa.CheckConstraint("source IN ('default', 'plan', 'override')", name=op.f("ck_bot_flag_exceptions_source")),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_bot_flag_exceptions_bot_id_bots"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["feature_key"], ["features.key"], name=op.f("fk_bot_flag_exceptions_feature_key_features"),
                                onupdate="CASCADE", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bot_id", "feature_key", name=op.f("pk_bot_flag_exceptions")),
    )
    op.create_index("ix_bot_flag_exceptions_feature", "bot_flag_exceptions", ["feature_key"], unique=False)
    _move_rows(op.get_bind())
    op.drop_index("ix_bot_feature_flags_feature", table_name="bot_feature_flags")
    op.drop_table("bot_feature_flags")
    op.execute(VIEW)


def _move_rows(bind: sa.engine.Connection) -> None:
    """Split the materialised rows into snapshots and exceptions, so that the view shows every row as it was."""
    answer = [sa.column(name, JSON if name in ("config", "user_splits") else None) for name in ANSWER]
    skip_active = """s.status = 'active' AND (
        EXISTS (SELECT 1 FROM tenant_feature_overrides o WHERE o.bot_id = f.bot_id AND o.feature_key = f.feature_key)
        OR EXISTS (SELECT 1 FROM plan_feature_grants g WHERE g.plan_tier_id = s.plan_tier_id AND g.feature_key = f.feature_key
                   AND g.rollout_percent IS NOT NULL AND g.rollout_by = 'tenant'))"""
    shared = sa.text(f"""
        SELECT s.plan_tier_id, s.status = 'active' AS active, f.feature_key, f.enabled, f.value, f.config, f.source,
               f.user_splits, count(*) AS n
        FROM bot_feature_flags f JOIN tenant_subscriptions s ON s.bot_id = f.bot_id
        WHERE f.source <> 'override' AND NOT ({skip_active})
        GROUP BY s.plan_tier_id, s.status = 'active', f.feature_key, f.enabled, f.value, f.config, f.source, f.user_splits
    """).columns(sa.column("plan_tier_id"), sa.column("active", sa.Boolean()), sa.column("feature_key"), *answer, sa.column("n"))
    # active tenants of a grant's tenant-sticky rollout, without an override: those outside it share the snapshot
    rolled = sa.text("""
        SELECT f.bot_id, s.plan_tier_id, f.feature_key, g.rollout_percent, f.enabled, f.value, f.config, f.source, f.user_splits
        FROM bot_feature_flags f
        JOIN tenant_subscriptions s ON s.bot_id = f.bot_id AND s.status = 'active'
        JOIN plan_feature_grants g ON g.plan_tier_id = s.plan_tier_id AND g.feature_key = f.feature_key
        WHERE g.rollout_percent IS NOT NULL AND g.rollout_by = 'tenant' AND f.source <> 'override'
          AND NOT EXISTS (SELECT 1 FROM tenant_feature_overrides o WHERE o.bot_id = f.bot_id AND o.feature_key = f.feature_key)
    """).columns(sa.column("bot_id"), sa.column("plan_tier_id"), sa.column("feature_key"), sa.column("rollout_percent"), *answer)
    counts: dict[tuple, dict[str, tuple[int, dict]]] = {}

    def count(key: tuple, row: dict, n: int) -> None:
        values = {name: row[name] for name in ANSWER}
        by_answer = counts.setdefault(key, {})
        seen, _ = by_answer.get(json.dumps(values, sort_keys=True), (0, values))
        by_answer[json.dumps(values, sort_keys=True)] = (seen + n, values)

    for row in bind.execute(shared).mappings():
        count((row["plan_tier_id"], bool(row["active"]), row["feature_key"]), row, row["n"])
    for row in bind.execute(rolled).mappings():
        bucket = mmh3.hash(f"{row['feature_key']}:{row['bot_id']}", 0, signed=False) % 100 + 1
        if not (row["rollout_percent"] > 0 and bucket <= row["rollout_percent"]):
            count((row["plan_tier_id"], True, row["feature_key"]), row, 1)
    snapshots = [
        {"plan_tier_id": plan_id, "active": active, "feature_key": key, **max(by_answer.values(), key=lambda c: c[0])[1]}
        for (plan_id, active, key), by_answer in sorted(counts.items())
    ]
    if snapshots:
        table = sa.table("plan_feature_flags", sa.column("plan_tier_id"), sa.column("active", sa.Boolean()),
                         sa.column("feature_key"), *answer)
        bind.execute(table.insert(), snapshots)
    differs = "IS DISTINCT FROM" if bind.dialect.name == "postgresql" else "IS NOT"
    bind.execute(sa.text(f"""
        INSERT INTO bot_flag_exceptions (bot_id, feature_key, enabled, value, config, source, user_splits, updated_at)
        SELECT f.bot_id, f.feature_key, f.enabled, f.value, f.config, f.source, f.user_splits, f.updated_at
        FROM bot_feature_flags f
        JOIN tenant_subscriptions s ON s.bot_id = f.bot_id AND s.status = 'active'
        LEFT JOIN plan_feature_flags p ON p.plan_tier_id = s.plan_tier_id AND p.active AND p.feature_key = f.feature_key
        WHERE p.feature_key IS NULL OR f.enabled <> p.enabled OR f.value {differs} p.value OR f.config <> p.config
           OR f.source <> p.source OR f.user_splits {differs} p.user_splits
    """))


def downgrade() -> None:
    op.create_table(
        "bot_feature_flags_0008",
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("feature_key", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.Column("config", JSON, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_at", tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("user_splits", JSON, nullable=True),
        sa.CheckConstraint("source IN ('default', 'plan', 'override')", name=op.f("ck_bot_feature_flags_source")),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_bot_feature_flags_bot_id_bots"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["feature_key"], ["features.key"], name=op.f("fk_bot_feature_flags_feature_key_features"),
                                onupdate="CASCADE", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bot_id", "feature_key", name=op.f("pk_bot_feature_flags")),
    )
    op.execute("""
        INSERT INTO bot_feature_flags_0008 (bot_id, feature_key, enabled, value, config, source, updated_at, user_splits)
        SELECT bot_id, feature_key, enabled, value, config, source, updated_at, user_splits FROM bot_feature_flags
    """)
    op.execute("DROP VIEW bot_feature_flags")
    op.drop_index("ix_bot_flag_exceptions_feature", table_name="bot_flag_exceptions")
    op.drop_table("bot_flag_exceptions")
    op.drop_table("plan_feature_flags")
    op.rename_table("bot_feature_flags_0008", "bot_feature_flags")
    op.create_index("ix_bot_feature_flags_feature", "bot_feature_flags", ["feature_key", "enabled"], unique=False)
