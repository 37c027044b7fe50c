"""Who may add and remove a tenant's admins: holders of MANAGE_ADMINS (the owner, a master admin); never the owner removed.

On SQLite and PostgreSQL (the `app` fixture).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tenantctl.audit.models import AuditEntry
from tenantctl.core.errors import Conflict, Forbidden
from tenantctl.tenants.admins import add_admin_as, list_admins, remove_admin_as
from tests.conftest import MASTER_ADMIN_ID
from tests.tenants.support import dump_database, setup_platform, write_env
from tests.tenants.test_provisioning import provision

OWNER, OTHER_OWNER, ADMIN = 501, 502, 777  # provision() makes 500 + n the owner of tenant n


async def admins(app, bot_id: int) -> list[tuple[int, str]]:
    async with app.unit_of_work() as session:
        return [(a.telegram_user_id, a.role) for a in await list_admins(session, bot_id=bot_id)]


async def test_only_manage_admins_adds_or_removes_and_the_owner_stays(app, tmp_path) -> None:
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        bot_id = (await provision(session, app, 1)).bot.id
        await provision(session, app, 2)
    masters = app.settings.master_admin_ids
    async with app.unit_of_work() as session:
        await add_admin_as(session, bot_id=bot_id, telegram_user_id=ADMIN, actor_telegram_id=OWNER, master_admins=masters)
    assert await admins(app, bot_id) == [(OWNER, "owner"), (ADMIN, "admin")]
    async with app.unit_of_work() as session:
        before = await dump_database(session)
    for actor, call, error, message in (
        (ADMIN, add_admin_as, Forbidden, "manage_admins is not allowed here"),  # a plain admin adds no admins
        (ADMIN, remove_admin_as, Forbidden, "manage_admins is not allowed here"),
        (OTHER_OWNER, add_admin_as, Forbidden, "manage_admins is not allowed here"),  # another bot's owner
        (123456, add_admin_as, Forbidden, "manage_admins is not allowed here"),
    ):
        with pytest.raises(error, match=message):
            async with app.unit_of_work() as session:
                target = 888 if call is add_admin_as else OWNER
                await call(session, bot_id=bot_id, telegram_user_id=target, actor_telegram_id=actor, master_admins=masters)
    for actor in (OWNER, MASTER_ADMIN_ID):
        with pytest.raises(Conflict, match="the owner cannot be removed"):
            async with app.unit_of_work() as session:
                await remove_admin_as(session, bot_id=bot_id, telegram_user_id=OWNER, actor_telegram_id=actor, master_admins=masters)
    async with app.unit_of_work() as session:
        assert await dump_database(session) == before
    async with app.unit_of_work() as session:
        await add_admin_as(session, bot_id=bot_id, telegram_user_id=888, actor_telegram_id=MASTER_ADMIN_ID, master_admins=masters)
        await remove_admin_as(session, bot_id=bot_id, telegram_user_id=ADMIN, actor_telegram_id=OWNER, master_admins=masters)
    assert await admins(app, bot_id) == [(OWNER, "owner"), (888, "admin")]
    async with app.unit_of_work() as session:
        audit = [(e.actor, e.action) for e in (await session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("admin.%")).order_by(AuditEntry.id))).all()]
    assert audit == [(f"tg:{OWNER}", "admin.add"), (f"tg:{MASTER_ADMIN_ID}", "admin.add"), (f"tg:{OWNER}", "admin.remove")]
