"""the tenant dashboard's indexes: users by join time, transactions covering the sums (PostgreSQL), first payments

Revision ID: 0008
Revises: 0007
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PAID = sa.text("kind = 'subscription_payment' AND status = 'succeeded'")


def upgrade() -> None:
    op.create_index("ix_users_bot_created", "users", ["bot_id", "created_at"])
    op.drop_index("ix_transactions_bot_created", table_name="transactions")
    op.create_index("ix_transactions_bot_created", "transactions", ["bot_id", "created_at"],
                    postgresql_include=["kind", "status", "payment_method", "amount_kopeks"])
    op.create_index("ix_transactions_bot_user_paid", "transactions", ["bot_id", "user_id", "created_at"],
                    postgresql_where=PAID, sqlite_where=PAID)


def downgrade() -> None:
    op.drop_index("ix_transactions_bot_user_paid", table_name="transactions")
    op.drop_index("ix_transactions_bot_created", table_name="transactions")
    op.create_index("ix_transactions_bot_created", "transactions", ["bot_id", "created_at"])
    op.drop_index("ix_users_bot_created", table_name="users")
