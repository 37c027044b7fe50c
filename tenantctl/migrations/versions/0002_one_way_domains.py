"""unpaid renewals carry no method, payment amounts name their unit, expiry notices are a column,
payment cards count their completed payments

Revision ID: 0002
Revises: 0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import tenantctl.core.db

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

METHODS = "('telegram_stars', 'card_to_card', 'manual', 'waived')"


def upgrade() -> None:
    with op.batch_alter_table("platform_payments") as batch:
        batch.drop_constraint(op.f("ck_platform_payments_method"), type_="check")
        batch.drop_constraint(op.f("ck_platform_payments_amount_not_negative"), type_="check")
        batch.alter_column("method", existing_type=sa.String(32), nullable=True)
        batch.alter_column("amount", new_column_name="amount_minor", existing_type=sa.BigInteger(), existing_nullable=False)
        batch.create_check_constraint("method", f"method IS NULL OR method IN {METHODS}")
        batch.create_check_constraint("amount_not_negative", "amount_minor >= 0")
    # a renewal falling due used to be stored as 'manual' until paid
    op.execute("UPDATE platform_payments SET method = NULL WHERE purpose = 'renewal' AND status = 'pending' AND method = 'manual'")

    with op.batch_alter_table("tenant_subscriptions") as batch:
        batch.add_column(sa.Column("expiry_notified_at", tenantctl.core.db.UTCDateTime(timezone=True), nullable=True))
    # owners already told (an audit row after the expiry) are not told again
    op.execute(
        "UPDATE tenant_subscriptions SET expiry_notified_at = CURRENT_TIMESTAMP WHERE status = 'expired' AND EXISTS ("
        " SELECT 1 FROM audit_log n WHERE n.bot_id = tenant_subscriptions.bot_id AND n.action = 'tenant.expiry_notified'"
        " AND n.id > COALESCE((SELECT MAX(e.id) FROM audit_log e WHERE e.bot_id = tenant_subscriptions.bot_id"
        " AND e.action = 'tenant.expired'), 0))"
    )

    with op.batch_alter_table("tenant_payment_cards") as batch:
        batch.add_column(sa.Column("usage_count", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tenant_payment_cards") as batch:
        batch.drop_column("usage_count")
    with op.batch_alter_table("tenant_subscriptions") as batch:
        batch.drop_column("expiry_notified_at")

    op.execute("UPDATE platform_payments SET method = 'manual' WHERE method IS NULL")
    with op.batch_alter_table("platform_payments") as batch:
        batch.drop_constraint(op.f("ck_platform_payments_method"), type_="check")
        batch.drop_constraint(op.f("ck_platform_payments_amount_not_negative"), type_="check")
        batch.alter_column("amount_minor", new_column_name="amount", existing_type=sa.BigInteger(), existing_nullable=False)
        batch.alter_column("method", existing_type=sa.String(32), nullable=False)
        batch.create_check_constraint("method", f"method IN {METHODS}")
        batch.create_check_constraint("amount_not_negative", "amount >= 0")
