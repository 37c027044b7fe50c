"""master-only features (the operator's own switches, never a tenant's), and when a plan's grants were
last edited by hand (`plans seed` extends only plans never edited)

Revision ID: 0005
Revises: 0004
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import tenantctl.core.db

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("features") as batch:
        batch.add_column(sa.Column("master_only", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    with op.batch_alter_table("tenant_subscription_plans") as batch:
        batch.add_column(sa.Column("grants_edited_at", tenantctl.core.db.UTCDateTime(timezone=True), nullable=True))
    # plans whose grants were set or revoked by hand, as the audit log tells; the next
    # `tenantctl flags sync` marks the master-only features
    op.execute(
        "UPDATE tenant_subscription_plans SET grants_edited_at = (SELECT MAX(a.at) FROM audit_log a"
        " WHERE a.action IN ('grant.set', 'grant.revoke') AND a.entity LIKE 'plan:' || tenant_subscription_plans.name || '/%')"
    )


def downgrade() -> None:
    with op.batch_alter_table("tenant_subscription_plans") as batch:
        batch.drop_column("grants_edited_at")
    with op.batch_alter_table("features") as batch:
        batch.drop_column("master_only")
