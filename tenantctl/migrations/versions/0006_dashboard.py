"""the platform's revenue share per plan, and card rotation: a strategy per bot and a weight per card

Revision ID: 0006
Revises: 0005
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("tenant_subscription_plans") as batch:
        batch.add_column(sa.Column("revenue_share_percent", sa.Integer(), server_default="0", nullable=False))
        batch.create_check_constraint("share_is_percent", "revenue_share_percent BETWEEN 0 AND 100")
    with op.batch_alter_table("bots") as batch:
        batch.add_column(sa.Column("card_rotation", sa.String(16), server_default="round_robin", nullable=False))
        batch.create_check_constraint("card_rotation", "card_rotation IN ('round_robin', 'random', 'weighted')")
    with op.batch_alter_table("tenant_payment_cards") as batch:
        batch.add_column(sa.Column("weight", sa.Integer(), server_default="1", nullable=False))
        batch.create_check_constraint("weight_positive", "weight > 0")


def downgrade() -> None:
    with op.batch_alter_table("tenant_payment_cards") as batch:
        batch.drop_constraint("weight_positive", type_="check")
        batch.drop_column("weight")
    with op.batch_alter_table("bots") as batch:
        batch.drop_constraint("card_rotation", type_="check")
        batch.drop_column("card_rotation")
    with op.batch_alter_table("tenant_subscription_plans") as batch:
        batch.drop_constraint("share_is_percent", type_="check")
        batch.drop_column("revenue_share_percent")
