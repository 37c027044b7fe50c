"""the payment inbox (money recorded before it is applied or refunded) and refunds as rows

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import tenantctl.core.db

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "payment_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("charge_id", sa.String(length=128), nullable=False),
        sa.Column("provider_charge_id", sa.String(length=128), nullable=True),
        sa.Column("payer_telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("approved_by", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="received", nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("processed_at", tenantctl.core.db.UTCDateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("method IN ('telegram_stars', 'card_to_card')", name=op.f("ck_payment_inbox_method")),
        sa.CheckConstraint("source IN ('update', 'ledger', 'review')", name=op.f("ck_payment_inbox_source")),
        sa.CheckConstraint("status IN ('received', 'applied', 'refunding', 'refunded')", name=op.f("ck_payment_inbox_status")),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_payment_inbox_amount_not_negative")),
        sa.ForeignKeyConstraint(["payment_id"], ["platform_payments.id"], name=op.f("fk_payment_inbox_payment_id_platform_payments"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_inbox")),
        sa.UniqueConstraint("method", "charge_id", name=op.f("uq_payment_inbox_method_charge_id")),
    )
    op.create_index("ix_payment_inbox_status", "payment_inbox", ["status"], unique=False)
    op.create_table(
        "platform_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.String(length=128), nullable=False),
        sa.Column("payer_telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", tenantctl.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", tenantctl.core.db.UTCDateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name=op.f("ck_platform_refunds_status")),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_platform_refunds_amount_not_negative")),
        sa.ForeignKeyConstraint(["inbox_id"], ["payment_inbox.id"], name=op.f("fk_platform_refunds_inbox_id_payment_inbox")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_refunds")),
        sa.UniqueConstraint("inbox_id", name=op.f("uq_platform_refunds_inbox_id")),
    )
    op.create_index("ix_platform_refunds_status_next_attempt_at", "platform_refunds", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_platform_refunds_status_next_attempt_at", table_name="platform_refunds")
    op.drop_table("platform_refunds")
    op.drop_index("ix_payment_inbox_status", table_name="payment_inbox")
    op.drop_table("payment_inbox")
