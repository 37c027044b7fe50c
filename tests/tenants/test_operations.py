"""Tenant operations: list (one query), lifecycle, admins, API tokens; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from tenantctl.billing.lifecycle import cancel_tenant, resume_tenant, suspend_tenant
from tenantctl.core.dates import add_months
from tenantctl.core.errors import Conflict, Invalid, NotFound
from tenantctl.customers.models import User
from tenantctl.flags.models import BotFeatureFlag
from tenantctl.plans.models import TenantSubscription
from tenantctl.plans.service import change_tenant_plan
from tenantctl.stats.service import list_tenants
from tenantctl.tenants.admins import add_admin, list_admins, remove_admin
from tenantctl.tenants.lookup import get_master, resolve_bot
from tenantctl.tenants.schemas import token_as_dict
from tenantctl.tenants.tokens import issue_api_token, list_api_tokens, revoke_api_token
from tests.tenants.support import NOW, setup_platform, write_env
from tests.tenants.test_provisioning import provision


async def enabled_flags(session, bot_id: int) -> set[str]:
    rows = await session.scalars(select(BotFeatureFlag.feature_key).where(BotFeatureFlag.bot_id == bot_id, BotFeatureFlag.enabled.is_(True)))
    return set(rows.all())


async def three_tenants(app, tmp_path) -> list[int]:
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        ids = [(await provision(session, app, n, plan=plan)).bot.id for n, plan in ((1, "starter"), (2, "growth"), (3, "growth"))]
        session.add_all(User(bot_id=ids[1], telegram_id=900 + i) for i in range(4))
        session.add(User(bot_id=ids[0], telegram_id=900))
    return ids


async def test_list_tenants_is_one_query_with_plan_end_date_and_user_count(app, tmp_path) -> None:
    ids = await three_tenants(app, tmp_path)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(app.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with app.unit_of_work() as session:
            rows = await list_tenants(session)
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1
    assert [(r.bot.id, r.plan, r.user_count, r.subscription_status) for r in rows] == [
        (ids[0], "starter", 1, "active"), (ids[1], "growth", 4, "active"), (ids[2], "growth", 0, "active")]
    assert rows[0].end_date == add_months(NOW)
    async with app.unit_of_work() as session:
        assert [r.bot.id for r in await list_tenants(session, plan="GROWTH")] == ids[1:]
        await suspend_tenant(session, bot_id=ids[2], actor="test")
        assert [r.bot.id for r in await list_tenants(session, status="suspended")] == [ids[2]]


async def test_lifecycle_transitions_are_validated_and_cancel_turns_features_off(app, tmp_path) -> None:
    bot_id = (await three_tenants(app, tmp_path))[0]
    async with app.unit_of_work() as session:
        assert (await suspend_tenant(session, bot_id=bot_id, actor="test")).status == "suspended"
        assert await enabled_flags(session, bot_id) == {"card_to_card", "trial_subscription"}  # suspension keeps flags
    with pytest.raises(Conflict, match="only an active tenant"):
        async with app.unit_of_work() as session:
            await suspend_tenant(session, bot_id=bot_id, actor="test")
    async with app.unit_of_work() as session:
        assert (await resume_tenant(session, bot_id=bot_id, actor="test", now=NOW)).status == "active"
    with pytest.raises(Conflict, match="only a suspended or cancelled"):
        async with app.unit_of_work() as session:
            await resume_tenant(session, bot_id=bot_id, actor="test", now=NOW)
    async with app.unit_of_work() as session:
        assert (await cancel_tenant(session, bot_id=bot_id, actor="test")).status == "cancelled"
        sub = await session.scalar(select(TenantSubscription).where(TenantSubscription.bot_id == bot_id))
        assert (sub.status, sub.auto_renewal) == ("cancelled", False)
        assert await enabled_flags(session, bot_id) == set()
    with pytest.raises(Conflict, match="cancelled already"):
        async with app.unit_of_work() as session:
            await cancel_tenant(session, bot_id=bot_id, actor="test")
    with pytest.raises(Conflict, match="record a payment"):
        async with app.unit_of_work() as session:  # the paid month is over by then
            await resume_tenant(session, bot_id=bot_id, actor="test", now=add_months(NOW, 2))
    async with app.unit_of_work() as session:
        await resume_tenant(session, bot_id=bot_id, actor="test", now=NOW)
        assert await enabled_flags(session, bot_id) == {"card_to_card", "trial_subscription"}
    with pytest.raises(NotFound):
        async with app.unit_of_work() as session:
            await suspend_tenant(session, bot_id=(await get_master(session)).id, actor="test")


async def test_lifecycle_changes_read_the_bot_again_after_locking_it(app, tmp_path) -> None:
    bot_id = (await three_tenants(app, tmp_path))[0]
    with pytest.raises(Conflict, match="only an active tenant"):
        async with app.unit_of_work() as session:
            found = await resolve_bot(session, str(bot_id))  # read first and held, as the CLI does
            assert found.status == "active"
            async with app.unit_of_work() as other:
                await cancel_tenant(other, bot_id=bot_id, actor="other")
            await suspend_tenant(session, bot_id=found.id, actor="test")  # sees "cancelled" once it holds the lock
    async with app.unit_of_work() as session:
        assert (await resolve_bot(session, str(bot_id))).status == "cancelled"


async def test_set_plan_moves_features_in_the_same_transaction(app, tmp_path) -> None:
    bot_id = (await three_tenants(app, tmp_path))[0]
    async with app.unit_of_work() as session:
        await change_tenant_plan(session, bot_id=bot_id, plan="growth", actor="test")
        assert await enabled_flags(session, bot_id) == {"card_to_card", "trial_subscription", "yookassa"}


async def test_admins_add_remove_list_and_the_owner_stays(app, tmp_path) -> None:
    bot_id = (await three_tenants(app, tmp_path))[0]
    async with app.unit_of_work() as session:
        await add_admin(session, bot_id=bot_id, telegram_user_id=777, actor="test")
        assert [(a.telegram_user_id, a.role) for a in await list_admins(session, bot_id=bot_id)] == [(501, "owner"), (777, "admin")]
    for call, error, message in (
        (lambda s: add_admin(s, bot_id=bot_id, telegram_user_id=777, actor="t"), Conflict, "already"),
        (lambda s: remove_admin(s, bot_id=bot_id, telegram_user_id=501, actor="t"), Conflict, "owner cannot be removed"),
        (lambda s: remove_admin(s, bot_id=bot_id, telegram_user_id=12345, actor="t"), NotFound, "not an admin"),
        (lambda s: add_admin(s, bot_id=bot_id, telegram_user_id=-5, actor="t"), Invalid, "positive"),
    ):
        with pytest.raises(error, match=message):
            async with app.unit_of_work() as session:
                await call(session)
    async with app.unit_of_work() as session:
        await remove_admin(session, bot_id=bot_id, telegram_user_id=777, actor="test")
        assert [a.telegram_user_id for a in await list_admins(session, bot_id=bot_id)] == [501]


async def test_api_tokens_issue_list_revoke(app, tmp_path) -> None:
    bot_id = (await three_tenants(app, tmp_path))[0]
    async with app.unit_of_work() as session:
        plaintext, row = await issue_api_token(session, bot_id=bot_id, actor="test")
        assert plaintext.startswith(row.prefix)
        assert len(await list_api_tokens(session, bot_id=bot_id)) == 2
        await revoke_api_token(session, bot_id=bot_id, prefix=row.prefix, actor="test", now=NOW)
    async with app.unit_of_work() as session:
        tokens = {t.prefix: t.revoked_at for t in await list_api_tokens(session, bot_id=bot_id)}
        assert tokens[row.prefix] == NOW and sum(v is None for v in tokens.values()) == 1
        assert set(token_as_dict(row)) == {"prefix", "created_at", "last_used_at", "revoked_at"}  # never the hash
    with pytest.raises(Conflict, match="revoked already"):
        async with app.unit_of_work() as session:
            await revoke_api_token(session, bot_id=bot_id, prefix=row.prefix, actor="test")
    with pytest.raises(NotFound, match="no API token"):
        async with app.unit_of_work() as session:
            await revoke_api_token(session, bot_id=bot_id, prefix="tc_nope", actor="test")
