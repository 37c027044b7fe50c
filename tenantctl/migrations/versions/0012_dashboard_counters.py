"""the dashboard's counters, kept by triggers: users per (bot, UTC day), subscriptions per (bot, status, UTC day of their end);
users.running_until

Every write to `users` and `subscriptions` (ORM, bulk INSERT ... SELECT, COPY, UPDATE, DELETE, a cascade, TRUNCATE
on PostgreSQL) goes through the triggers created here, so no counter can drift from the rows:
- users.running_until is the end of the user's latest running subscription (trial or active; NULL: none), whatever
  the subscription's bot_id says (a user's subscriptions are in its bot): moving a user or a subscription to
  another bot leaves it as it is; the subscriptions' triggers keep it;
- user_daily holds, per (bot_id, UTC day), the users who joined that day (joined) and of them the blocked ones (blocked),
  the users whose first_paid_at falls on that day (first_paid) and those whose running_until does (running_ends);
- subscription_daily holds the subscriptions per (bot_id, status, UTC day of end_date).
A row whose counts all fall to zero is deleted. The triggers on `users` also see the changes that 0010's triggers
make to first_paid_at, and those made to running_until here. PostgreSQL applies each statement's rows at once
(statement triggers with transition tables, the net change per counter row); SQLite row by row.
SQLite drops a table's triggers when batch mode re-creates it: a later migration must never re-create `users` or
`subscriptions` in batch mode on SQLite (or must create these triggers again).

Revision ID: 0012
Revises: 0011
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import tenantctl.core.db

revision: str = "0012"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

RUNNING = "('trial', 'active')"
USER_KEY = ("bot_id", "day")
USER_COUNTS = ("joined", "blocked", "first_paid", "running_ends")
SUBSCRIPTION_KEY = ("bot_id", "status", "end_day")
SUBSCRIPTION_COUNTS = ("count",)


def _pg_day(column: str) -> str:
    return f"({column} AT TIME ZONE 'UTC')::date"


def _pg_user_rows(rows: str, sign: str) -> str:
    """What each user of `rows` (a transition table) adds to user_daily, times `sign`: (bot_id, day, *USER_COUNTS)."""
    return (f"SELECT bot_id, {_pg_day('created_at')} AS day, {sign} AS joined, {sign} * is_blocked::int AS blocked, "
            f"0 AS first_paid, 0 AS running_ends FROM {rows} "
            f"UNION ALL SELECT bot_id, {_pg_day('first_paid_at')}, 0, 0, {sign}, 0 FROM {rows} WHERE first_paid_at IS NOT NULL "
            f"UNION ALL SELECT bot_id, {_pg_day('running_until')}, 0, 0, 0, {sign} FROM {rows} WHERE running_until IS NOT NULL")


def _pg_subscription_rows(rows: str, sign: str) -> str:
    return f"SELECT bot_id, status, {_pg_day('end_date')} AS end_day, {sign} AS count FROM {rows}"


def _pg_apply(table: str, key: tuple[str, ...], counts: tuple[str, ...], contributions: list[str]) -> str:
    """Add the net change of `contributions` (queries of key and counts) to `table`; delete the rows left at zero.

    Rows that are gone already (a bot's deletion cascades to its counters too) take no negative change."""
    parts = " UNION ALL ".join(f"({query})" for query in contributions)
    same = " AND ".join(f"d.{column} = c.{column}" for column in key)
    return f"""
        WITH c AS (SELECT {', '.join(key)}, {', '.join(f'sum({n}) AS {n}' for n in counts)} FROM ({parts}) rows
                   GROUP BY {', '.join(key)} HAVING {' OR '.join(f'sum({n}) <> 0' for n in counts)}),
             changed AS (UPDATE {table} d SET {', '.join(f'{n} = d.{n} + c.{n}' for n in counts)} FROM c WHERE {same}
                         RETURNING {', '.join(f'd.{column}' for column in key)})
        INSERT INTO {table} AS d ({', '.join(key + counts)})
        SELECT {', '.join(key + counts)} FROM c
        WHERE NOT EXISTS (SELECT 1 FROM changed d WHERE {same}) AND {' AND '.join(f'c.{n} >= 0' for n in counts)}
        ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(f'{n} = d.{n} + EXCLUDED.{n}' for n in counts)};
        DELETE FROM {table} d USING (SELECT DISTINCT {', '.join(key)} FROM ({parts}) rows) c
        WHERE {same} AND {' AND '.join(f'd.{n} = 0' for n in counts)};"""


def _pg_running_until(users: str) -> str:
    """Recompute running_until for the users selected by `users` (a query of user ids)."""
    return f"""
        UPDATE users u SET running_until = m.until
        FROM (SELECT v.id, (SELECT max(s.end_date) FROM subscriptions s WHERE s.user_id = v.id AND s.status IN {RUNNING}) AS until
              FROM users v WHERE v.id IN ({users})) m
        WHERE u.id = m.id AND u.running_until IS DISTINCT FROM m.until;"""


def _pg_running(rows: str) -> str:
    return f"SELECT user_id, end_date FROM {rows} WHERE status IN {RUNNING}"


def _pg_users_apply(*sources: tuple[str, str]) -> str:
    return _pg_apply("user_daily", USER_KEY, USER_COUNTS, [_pg_user_rows(rows, sign) for rows, sign in sources])


def _pg_subscriptions_apply(*sources: tuple[str, str]) -> str:
    return _pg_apply("subscription_daily", SUBSCRIPTION_KEY, SUBSCRIPTION_COUNTS,
                     [_pg_subscription_rows(rows, sign) for rows, sign in sources])


PG_FUNCTIONS = f"""
CREATE FUNCTION users_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_pg_users_apply(('new_rows', '1'))}
    ELSIF TG_OP = 'UPDATE' THEN
        {_pg_users_apply(('new_rows', '1'), ('old_rows', '-1'))}
    ELSE
        {_pg_users_apply(('old_rows', '-1'))}
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION users_counters_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM user_daily;
    RETURN NULL;
END $$;

CREATE FUNCTION subscriptions_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_pg_subscriptions_apply(('new_rows', '1'))}
        UPDATE users u SET running_until = n.until
        FROM (SELECT user_id, max(end_date) AS until FROM new_rows WHERE status IN {RUNNING} GROUP BY user_id) n
        WHERE u.id = n.user_id AND (u.running_until IS NULL OR n.until > u.running_until);
    ELSIF TG_OP = 'UPDATE' THEN
        {_pg_subscriptions_apply(('new_rows', '1'), ('old_rows', '-1'))}
        {_pg_running_until(f"SELECT user_id FROM (({_pg_running('new_rows')} EXCEPT {_pg_running('old_rows')}) "
                           f"UNION ({_pg_running('old_rows')} EXCEPT {_pg_running('new_rows')})) changed")}
    ELSE
        {_pg_subscriptions_apply(('old_rows', '-1'))}
        {_pg_running_until(f"SELECT user_id FROM old_rows WHERE status IN {RUNNING}")}
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION subscriptions_counters_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM subscription_daily;
    UPDATE users SET running_until = NULL WHERE running_until IS NOT NULL;
    RETURN NULL;
END $$;
"""
PG_TRIGGERS = {
    "users": {
        "users_counters_insert": "AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                                 "EXECUTE FUNCTION users_counters()",
        "users_counters_update": "AFTER UPDATE ON users REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
                                 "EXECUTE FUNCTION users_counters()",
        "users_counters_delete": "AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
                                 "EXECUTE FUNCTION users_counters()",
        "users_counters_truncate": "AFTER TRUNCATE ON users FOR EACH STATEMENT EXECUTE FUNCTION users_counters_truncated()",
    },
    "subscriptions": {
        "subscriptions_counters_insert": "AFTER INSERT ON subscriptions REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                                         "EXECUTE FUNCTION subscriptions_counters()",
        "subscriptions_counters_update": "AFTER UPDATE ON subscriptions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
                                         "FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_counters()",
        "subscriptions_counters_delete": "AFTER DELETE ON subscriptions REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
                                         "EXECUTE FUNCTION subscriptions_counters()",
        "subscriptions_counters_truncate": "AFTER TRUNCATE ON subscriptions FOR EACH STATEMENT "
                                           "EXECUTE FUNCTION subscriptions_counters_truncated()",
    },
}


def _sqlite_user_add(row: str) -> str:
    def upsert(day: str, counts: str, when: str) -> str:
        return (f"INSERT INTO user_daily (bot_id, day, joined, blocked, first_paid, running_ends) "
                f"SELECT {row}.bot_id, date({day}), {counts} WHERE {when} "
                f"ON CONFLICT (bot_id, day) DO UPDATE SET joined = joined + excluded.joined, blocked = blocked + excluded.blocked, "
                f"first_paid = first_paid + excluded.first_paid, running_ends = running_ends + excluded.running_ends;")

    return " ".join((upsert(f"{row}.created_at", f"1, {row}.is_blocked, 0, 0", "1"),
                     upsert(f"{row}.first_paid_at", "0, 0, 1, 0", f"{row}.first_paid_at IS NOT NULL"),
                     upsert(f"{row}.running_until", "0, 0, 0, 1", f"{row}.running_until IS NOT NULL")))


def _sqlite_user_remove(row: str) -> str:
    def update(day: str, counts: str) -> str:  # date(NULL) matches no row
        return f"UPDATE user_daily SET {counts} WHERE bot_id = {row}.bot_id AND day = date({day});"

    return " ".join((update(f"{row}.created_at", f"joined = joined - 1, blocked = blocked - {row}.is_blocked"),
                     update(f"{row}.first_paid_at", "first_paid = first_paid - 1"),
                     update(f"{row}.running_until", "running_ends = running_ends - 1"),
                     (f"DELETE FROM user_daily WHERE bot_id = {row}.bot_id AND day IN (date({row}.created_at), "
                      f"date({row}.first_paid_at), date({row}.running_until)) AND joined = 0 AND blocked = 0 "
                      "AND first_paid = 0 AND running_ends = 0;")))


def _sqlite_subscription_add(row: str) -> str:
    return (f"INSERT INTO subscription_daily (bot_id, status, end_day, count) VALUES ({row}.bot_id, {row}.status, "
            f"date({row}.end_date), 1) ON CONFLICT (bot_id, status, end_day) DO UPDATE SET count = count + 1;")


def _sqlite_subscription_remove(row: str) -> str:
    where = f"bot_id = {row}.bot_id AND status = {row}.status AND end_day = date({row}.end_date)"
    return f"UPDATE subscription_daily SET count = count - 1 WHERE {where}; DELETE FROM subscription_daily WHERE {where} AND count = 0;"


def _sqlite_running_until(users: str, when: str) -> str:
    return (f"UPDATE users SET running_until = (SELECT max(s.end_date) FROM subscriptions s WHERE s.user_id = users.id "
            f"AND s.status IN {RUNNING}) WHERE id IN ({users}) AND {when};")


USER_COLUMNS = ("bot_id", "created_at", "is_blocked", "first_paid_at", "running_until")
SUBSCRIPTION_COLUMNS = ("bot_id", "user_id", "status", "end_date")


def _changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in columns)


SQLITE_TRIGGERS = {
    "users_counters_insert": ("AFTER INSERT ON users", _sqlite_user_add("NEW")),
    "users_counters_update": (f"AFTER UPDATE OF {', '.join(USER_COLUMNS)} ON users WHEN {_changed(USER_COLUMNS)}",
                              _sqlite_user_remove("OLD") + " " + _sqlite_user_add("NEW")),
    "users_counters_delete": ("AFTER DELETE ON users", _sqlite_user_remove("OLD")),
    "subscriptions_counters_insert": (
        "AFTER INSERT ON subscriptions",
        _sqlite_subscription_add("NEW") + " UPDATE users SET running_until = NEW.end_date WHERE id = NEW.user_id "
        f"AND NEW.status IN {RUNNING} AND (running_until IS NULL OR NEW.end_date > running_until);"),
    "subscriptions_counters_update": (
        f"AFTER UPDATE OF {', '.join(SUBSCRIPTION_COLUMNS)} ON subscriptions WHEN {_changed(SUBSCRIPTION_COLUMNS)}",
        _sqlite_subscription_remove("OLD") + " " + _sqlite_subscription_add("NEW") + " "
        + _sqlite_running_until("OLD.user_id, NEW.user_id", f"(OLD.status IN {RUNNING} OR NEW.status IN {RUNNING})")),
    "subscriptions_counters_delete": (
        "AFTER DELETE ON subscriptions",
        _sqlite_subscription_remove("OLD") + " " + _sqlite_running_until("OLD.user_id", f"OLD.status IN {RUNNING}")),
}


def create_triggers() -> None:
    """The triggers that keep user_daily, subscription_daily and users.running_until exact, for the current dialect."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
        for triggers in PG_TRIGGERS.values():
            for name, definition in triggers.items():
                op.execute(f"CREATE TRIGGER {name} {definition}")
    else:
        for name, (when, body) in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} BEGIN {body} END")


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, triggers in PG_TRIGGERS.items():
            for name in triggers:
                op.execute(f"DROP TRIGGER {name} ON {table}")
        for function in ("users_counters", "users_counters_truncated", "subscriptions_counters", "subscriptions_counters_truncated"):
            op.execute(f"DROP FUNCTION {function}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")


def upgrade() -> None:
    op.create_table(
        "user_daily",
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in USER_COUNTS),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_user_daily_bot_id_bots"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*USER_KEY, name=op.f("pk_user_daily")),
    )
    op.create_table(
        "subscription_daily",
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("end_day", sa.Date(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_subscription_daily_bot_id_bots"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*SUBSCRIPTION_KEY, name=op.f("pk_subscription_daily")),
    )
    # plain ADD COLUMN, never a batch rebuild: on SQLite a rebuild would break 0010's triggers
    op.add_column("users", sa.Column("running_until", tenantctl.core.db.UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_users_bot_running_until", "users", ["bot_id", "running_until"])
    postgresql = op.get_bind().dialect.name == "postgresql"

    def day(column: str) -> str:
        return _pg_day(column) if postgresql else f"date({column})"

    op.execute(f"UPDATE users SET running_until = (SELECT max(s.end_date) FROM subscriptions s WHERE s.user_id = users.id "
               f"AND s.status IN {RUNNING})")
    blocked = "is_blocked::int" if postgresql else "is_blocked"
    op.execute(f"INSERT INTO user_daily (bot_id, day, {', '.join(USER_COUNTS)}) "
               f"SELECT bot_id, day, {', '.join(f'sum({n})' for n in USER_COUNTS)} FROM ("
               f"SELECT bot_id, {day('created_at')} AS day, 1 AS joined, {blocked} AS blocked, 0 AS first_paid, 0 AS running_ends "
               f"FROM users UNION ALL SELECT bot_id, {day('first_paid_at')}, 0, 0, 1, 0 FROM users WHERE first_paid_at IS NOT NULL "
               f"UNION ALL SELECT bot_id, {day('running_until')}, 0, 0, 0, 1 FROM users WHERE running_until IS NOT NULL) rows "
               f"GROUP BY bot_id, day")
    op.execute(f"INSERT INTO subscription_daily (bot_id, status, end_day, count) "
               f"SELECT bot_id, status, {day('end_date')}, count(*) FROM subscriptions GROUP BY bot_id, status, {day('end_date')}")
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_index("ix_users_bot_running_until", table_name="users")
    op.drop_column("users", "running_until")  # SQLite drops a column in place (3.35+): 0010's triggers stay
    op.drop_table("subscription_daily")
    op.drop_table("user_daily")
