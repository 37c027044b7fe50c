"""webhook secrets are derived from the key (the column goes), a key verifier, tenant names unique after
normalisation (name_key), one live row per Telegram bot

Revision ID: 0003
Revises: 0002
"""
import secrets
from collections import defaultdict
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

import tenantctl.core.db
from tenantctl.tenants.rules import bot_name_key

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TENANTS = sa.text("NOT is_master")
LIVE = sa.text("status <> 'cancelled'")


def _keys_or_refuse(bind: sa.Connection) -> list[dict]:
    """Every bot's name key; CommandError listing the bots the new constraints would refuse."""
    rows = bind.execute(sa.text("SELECT id, name, is_master, telegram_id, status FROM bots ORDER BY id")).all()
    names, live = defaultdict(list), defaultdict(list)
    for row in rows:
        if not row.is_master:
            names[bot_name_key(row.name)].append(f"{row.id} {row.name!r}")
        if row.telegram_id is not None and row.status != "cancelled":
            live[row.telegram_id].append(str(row.id))
    clashes = [f"bots {', '.join(ids)} look alike" for ids in names.values() if len(ids) > 1]
    clashes += [f"bots {', '.join(ids)} are Telegram bot {bot}" for bot, ids in live.items() if len(ids) > 1]
    if clashes:
        raise CommandError(f"{'; '.join(clashes)}: rename or cancel all but one of each, then upgrade again")
    return [{"id": row.id, "key": bot_name_key(row.name)} for row in rows]


def upgrade() -> None:
    keys = _keys_or_refuse(op.get_bind())
    with op.batch_alter_table("bots") as batch:
        batch.add_column(sa.Column("name_key", sa.Text(), nullable=True))
    if keys:
        op.get_bind().execute(sa.text("UPDATE bots SET name_key = :key WHERE id = :id"), keys)
    with op.batch_alter_table("bots") as batch:
        batch.alter_column("name_key", existing_type=sa.Text(), nullable=False)
        batch.drop_column("webhook_secret")
    op.create_index("uq_bots_name_key", "bots", ["name_key"], unique=True, postgresql_where=TENANTS, sqlite_where=TENANTS)
    op.create_index("uq_bots_telegram_id", "bots", ["telegram_id"], unique=True, postgresql_where=LIVE, sqlite_where=LIVE)

    op.create_table(
        "key_verifier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("verifier", sa.String(length=64), nullable=False),
        sa.Column("created_at", tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", tenantctl.core.db.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_key_verifier_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_verifier")),
    )


def downgrade() -> None:
    op.drop_table("key_verifier")
    op.drop_index("uq_bots_telegram_id", table_name="bots")
    op.drop_index("uq_bots_name_key", table_name="bots")
    with op.batch_alter_table("bots") as batch:
        batch.drop_column("name_key")
        batch.add_column(sa.Column("webhook_secret", sa.String(length=64), nullable=True))
    # the old code keeps a random secret per bot; its runner sets every webhook again when it starts
    ids = op.get_bind().execute(sa.text("SELECT id FROM bots")).scalars().all()
    if ids:
        op.get_bind().execute(sa.text("UPDATE bots SET webhook_secret = :secret WHERE id = :id"),
                              [{"id": bot_id, "secret": secrets.token_urlsafe(32)} for bot_id in ids])
    with op.batch_alter_table("bots") as batch:
        batch.alter_column("webhook_secret", existing_type=sa.String(length=64), nullable=False)
