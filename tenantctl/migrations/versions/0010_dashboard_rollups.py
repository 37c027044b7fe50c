"""the dashboard's rollups, kept by triggers: transactions per (bot, UTC day, kind, method, status); users.first_paid_at;
indexes for the dashboard's counts (users by join time with first_paid_at, blocked users, subscriptions by status and end)

Every write to `transactions` (ORM, bulk INSERT ... SELECT, COPY, UPDATE, DELETE, a cascade, TRUNCATE on
PostgreSQL) goes through the triggers created here, so neither figure can drift from the rows:
- transaction_daily holds the count and the amount of each (bot_id, UTC day of created_at, kind,
  payment_method, status); a group whose last row goes is deleted;
- users.first_paid_at is the time of the user's first succeeded subscription payment in its bot (NULL: none).
Likewise every write to `subscriptions` keeps users.subscribed: whether the user has a subscription in its bot.
PostgreSQL applies each statement's rows at once (statement triggers with transition tables); SQLite row by row.
SQLite drops a table's triggers when batch mode re-creates it: a later migration that re-creates `transactions`
or `subscriptions` on SQLite must create them again.

Revision ID: 0010
Revises: 0009
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KEY = ("bot_id", "day", "kind", "payment_method", "status")
PAID = "kind = 'subscription_payment' AND status = 'succeeded'"
PG_DAY = "(created_at AT TIME ZONE 'UTC')::date"


def _pg_groups(rows: str, figures: str = "") -> str:
    """The groups of `rows` (a transition table) by KEY, with `figures` after the key columns."""
    return (f"SELECT bot_id, {PG_DAY} AS day, kind, payment_method, status{figures} FROM {rows} "
            f"GROUP BY bot_id, {PG_DAY}, kind, payment_method, status")


def _same_key(left: str, right: str) -> str:
    return " AND ".join(f"{left}.{column} = {right}.{column}" for column in KEY)


def _pg_first_paid(users: str) -> str:
    """Recompute first_paid_at for the users selected by `users` (a query of user ids)."""
    return f"""
        UPDATE users u SET first_paid_at = m.first
        FROM (SELECT v.id, (SELECT min(t.created_at) FROM transactions t WHERE t.bot_id = v.bot_id AND t.user_id = v.id
                                AND t.kind = 'subscription_payment' AND t.status = 'succeeded') AS first
              FROM users v WHERE v.id IN ({users})) m
        WHERE u.id = m.id AND u.first_paid_at IS DISTINCT FROM m.first;"""


PG_FUNCTION = f"""
CREATE FUNCTION transactions_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE transaction_daily d SET count = d.count - o.n, amount_kopeks = d.amount_kopeks - o.a
        FROM ({_pg_groups('old_rows', ', count(*) AS n, sum(amount_kopeks) AS a')}) o WHERE {_same_key('d', 'o')};
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO transaction_daily AS d (bot_id, day, kind, payment_method, status, count, amount_kopeks)
        {_pg_groups('new_rows', ', count(*), sum(amount_kopeks)')}
        ON CONFLICT (bot_id, day, kind, payment_method, status)
        DO UPDATE SET count = d.count + EXCLUDED.count, amount_kopeks = d.amount_kopeks + EXCLUDED.amount_kopeks;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM transaction_daily d USING ({_pg_groups('old_rows')}) o WHERE {_same_key('d', 'o')} AND d.count = 0;
    END IF;
    IF TG_OP = 'INSERT' THEN
        UPDATE users u SET first_paid_at = n.first
        FROM (SELECT bot_id, user_id, min(created_at) AS first FROM new_rows WHERE {PAID} AND user_id IS NOT NULL
              GROUP BY bot_id, user_id) n
        WHERE u.id = n.user_id AND u.bot_id = n.bot_id AND (u.first_paid_at IS NULL OR n.first < u.first_paid_at);
    ELSIF TG_OP = 'UPDATE' THEN
        {_pg_first_paid(f"SELECT user_id FROM old_rows WHERE {PAID} UNION SELECT user_id FROM new_rows WHERE {PAID}")}
    ELSE
        {_pg_first_paid(f"SELECT user_id FROM old_rows WHERE {PAID}")}
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION transactions_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM transaction_daily;
    UPDATE users SET first_paid_at = NULL WHERE first_paid_at IS NOT NULL;
    RETURN NULL;
END $$;

CREATE FUNCTION subscriptions_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET subscribed = false WHERE subscribed;
    RETURN NULL;
END $$;
"""
SUBSCRIBED = "EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = v.id AND s.bot_id = v.bot_id)"


def _pg_subscribed(users: str) -> str:
    """Recompute subscribed for the users selected by `users` (a query of user ids)."""
    return f"""
        UPDATE users u SET subscribed = m.subscribed
        FROM (SELECT v.id, {SUBSCRIBED} AS subscribed FROM users v WHERE v.id IN ({users})) m
        WHERE u.id = m.id AND u.subscribed <> m.subscribed;"""


PG_SUBSCRIPTIONS_FUNCTION = f"""
CREATE FUNCTION subscriptions_subscribed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE users u SET subscribed = true FROM (SELECT DISTINCT bot_id, user_id FROM new_rows) n
        WHERE u.id = n.user_id AND u.bot_id = n.bot_id AND NOT u.subscribed;
    ELSIF TG_OP = 'DELETE' THEN
        {_pg_subscribed("SELECT user_id FROM old_rows")}
    ELSE
        {_pg_subscribed("SELECT OLD.user_id UNION SELECT NEW.user_id")}
    END IF;
    RETURN NULL;
END $$;
"""
PG_SUBSCRIPTIONS_TRIGGERS = {
    "subscriptions_subscribed_insert": "AFTER INSERT ON subscriptions REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
    "subscriptions_subscribed_update": "AFTER UPDATE OF user_id, bot_id ON subscriptions FOR EACH ROW "
                                       "WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.bot_id IS DISTINCT FROM NEW.bot_id)",
    "subscriptions_subscribed_delete": "AFTER DELETE ON subscriptions REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
}
PG_TRIGGERS = {
    "transactions_rollups_insert": "AFTER INSERT ON transactions REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
    "transactions_rollups_update": "AFTER UPDATE ON transactions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT",
    "transactions_rollups_delete": "AFTER DELETE ON transactions REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
}


def _sqlite_add(row: str) -> str:
    return (f"INSERT INTO transaction_daily (bot_id, day, kind, payment_method, status, count, amount_kopeks) "
            f"VALUES ({row}.bot_id, date({row}.created_at), {row}.kind, {row}.payment_method, {row}.status, 1, {row}.amount_kopeks) "
            f"ON CONFLICT (bot_id, day, kind, payment_method, status) "
            f"DO UPDATE SET count = count + 1, amount_kopeks = amount_kopeks + excluded.amount_kopeks;")


def _sqlite_remove(row: str) -> str:
    where = (f"bot_id = {row}.bot_id AND day = date({row}.created_at) AND kind = {row}.kind "
             f"AND payment_method = {row}.payment_method AND status = {row}.status")
    return (f"UPDATE transaction_daily SET count = count - 1, amount_kopeks = amount_kopeks - {row}.amount_kopeks WHERE {where}; "
            f"DELETE FROM transaction_daily WHERE {where} AND count = 0;")


def _sqlite_paid(row: str) -> str:
    return f"({row}.kind = 'subscription_payment' AND {row}.status = 'succeeded')"


def _sqlite_first_paid(users: str, when: str) -> str:
    return (f"UPDATE users SET first_paid_at = (SELECT min(t.created_at) FROM transactions t WHERE t.bot_id = users.bot_id "
            f"AND t.user_id = users.id AND t.kind = 'subscription_payment' AND t.status = 'succeeded') "
            f"WHERE id IN ({users}) AND {when};")


def _sqlite_subscribed(users: str) -> str:
    return (f"UPDATE users SET subscribed = EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = users.id "
            f"AND s.bot_id = users.bot_id) WHERE id IN ({users});")


SQLITE_SUBSCRIPTIONS_TRIGGERS = {
    "subscriptions_subscribed_insert": (
        "AFTER INSERT ON subscriptions",
        "UPDATE users SET subscribed = 1 WHERE id = NEW.user_id AND bot_id = NEW.bot_id AND NOT subscribed;"),
    "subscriptions_subscribed_update": ("AFTER UPDATE OF user_id, bot_id ON subscriptions", _sqlite_subscribed("OLD.user_id, NEW.user_id")),
    "subscriptions_subscribed_delete": ("AFTER DELETE ON subscriptions", _sqlite_subscribed("OLD.user_id")),
}
SQLITE_TRIGGERS = {
    "transactions_rollups_insert": (
        "AFTER INSERT ON transactions",
        _sqlite_add("NEW") + " UPDATE users SET first_paid_at = NEW.created_at WHERE id = NEW.user_id AND bot_id = NEW.bot_id "
        f"AND {_sqlite_paid('NEW')} AND (first_paid_at IS NULL OR NEW.created_at < first_paid_at);"),
    "transactions_rollups_update": (
        "AFTER UPDATE OF bot_id, user_id, kind, status, amount_kopeks, payment_method, created_at ON transactions",
        _sqlite_remove("OLD") + " " + _sqlite_add("NEW") + " "
        + _sqlite_first_paid("OLD.user_id, NEW.user_id", f"({_sqlite_paid('OLD')} OR {_sqlite_paid('NEW')})")),
    "transactions_rollups_delete": (
        "AFTER DELETE ON transactions",
        _sqlite_remove("OLD") + " " + _sqlite_first_paid("OLD.user_id", _sqlite_paid("OLD"))),
}


def create_triggers() -> None:
    """The triggers that keep transaction_daily, users.first_paid_at and users.subscribed exact, for the current dialect."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for name, when in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION transactions_rollups()")
        op.execute("CREATE TRIGGER transactions_rollups_truncate AFTER TRUNCATE ON transactions "
                   "FOR EACH STATEMENT EXECUTE FUNCTION transactions_truncated()")
        op.execute(PG_SUBSCRIPTIONS_FUNCTION)
        for name, when in PG_SUBSCRIPTIONS_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION subscriptions_subscribed()")
        op.execute("CREATE TRIGGER subscriptions_subscribed_truncate AFTER TRUNCATE ON subscriptions "
                   "FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_truncated()")
    else:
        for name, (when, body) in {**SQLITE_TRIGGERS, **SQLITE_SUBSCRIPTIONS_TRIGGERS}.items():
            op.execute(f"CREATE TRIGGER {name} {when} BEGIN {body} END")


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in (*PG_TRIGGERS, "transactions_rollups_truncate"):
            op.execute(f"DROP TRIGGER {name} ON transactions")
        for name in (*PG_SUBSCRIPTIONS_TRIGGERS, "subscriptions_subscribed_truncate"):
            op.execute(f"DROP TRIGGER {name} ON subscriptions")
        for function in ("transactions_truncated", "transactions_rollups", "subscriptions_truncated", "subscriptions_subscribed"):
            op.execute(f"DROP FUNCTION {function}()")
    else:
        for name in (*SQLITE_TRIGGERS, *SQLITE_SUBSCRIPTIONS_TRIGGERS):
            op.execute(f"DROP TRIGGER {name}")


def upgrade() -> None:
    op.create_table(
        "transaction_daily",
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payment_method", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("amount_kopeks", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_transaction_daily_bot_id_bots"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_transaction_daily")),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("first_paid_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("subscribed", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_index("ix_users_bot_first_paid", "users", ["bot_id", "first_paid_at"])
    op.drop_index("ix_users_bot_created", table_name="users")
    op.create_index("ix_users_bot_created", "users", ["bot_id", "created_at"], postgresql_include=["first_paid_at", "subscribed"])
    op.create_index("ix_users_bot_blocked", "users", ["bot_id"], postgresql_where=sa.text("is_blocked"), sqlite_where=sa.text("is_blocked"))
    op.drop_index("ix_subscriptions_bot_status", table_name="subscriptions")
    op.create_index("ix_subscriptions_bot_status", "subscriptions", ["bot_id", "status", "end_date"], postgresql_include=["user_id"])
    day = PG_DAY if op.get_bind().dialect.name == "postgresql" else "date(created_at)"
    op.execute(f"INSERT INTO transaction_daily (bot_id, day, kind, payment_method, status, count, amount_kopeks) "
               f"SELECT bot_id, {day}, kind, payment_method, status, count(*), sum(amount_kopeks) FROM transactions "
               f"GROUP BY bot_id, {day}, kind, payment_method, status")
    op.execute("UPDATE users SET first_paid_at = (SELECT min(t.created_at) FROM transactions t WHERE t.bot_id = users.bot_id "
               "AND t.user_id = users.id AND t.kind = 'subscription_payment' AND t.status = 'succeeded')")
    op.execute("UPDATE users SET subscribed = EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = users.id "
               "AND s.bot_id = users.bot_id)")
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_index("ix_subscriptions_bot_status", table_name="subscriptions")
    op.create_index("ix_subscriptions_bot_status", "subscriptions", ["bot_id", "status"])
    op.drop_index("ix_users_bot_blocked", table_name="users")
    op.drop_index("ix_users_bot_created", table_name="users")
    op.create_index("ix_users_bot_created", "users", ["bot_id", "created_at"])
    op.drop_index("ix_users_bot_first_paid", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("subscribed")
        batch.drop_column("first_paid_at")
    op.drop_table("transaction_daily")
