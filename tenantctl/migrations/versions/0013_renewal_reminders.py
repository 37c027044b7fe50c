"""renewal reminders: when an end user's subscription was reminded of its end

Revision ID: 0013
Revises: 0012
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import tenantctl.core.db

revision: str = "0013"
down_revision: Union[str, Sequence[str], None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # plain ADD COLUMN, never a batch rebuild: on SQLite a rebuild would drop 0012's triggers on `subscriptions`
    op.add_column("subscriptions", sa.Column("renewal_reminded_at", tenantctl.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("subscriptions", "renewal_reminded_at")  # SQLite drops a column in place (3.35+): the triggers stay
