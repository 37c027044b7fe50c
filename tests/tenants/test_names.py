"""Bot names are unique after normalisation and look-alikes, a Telegram bot has one live row, and both hold
under concurrency because the database enforces them (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from tenantctl.billing.lifecycle import resume_tenant
from tenantctl.core.db import run_in_transaction
from tenantctl.core.errors import Conflict
from tenantctl.onboarding import service as onboarding
from tenantctl.tenants import service
from tenantctl.tenants.models import Bot
from tenantctl.tenants.rules import bot_name_key
from tenantctl.tenants.telegram import BotIdentity
from tests.tenants.support import setup_platform, tenant_token, write_env


def tenant(app, n: int, name: str, identity: BotIdentity | None = None) -> dict:
    return dict(name=name, token=tenant_token(n), owner_telegram_id=500 + n, plan="starter", box=app.secret_box,
                actor="test", identity=identity)


@pytest.mark.parametrize("name, other", [
    ("Tenant One", "tenant   one"),
    ("Tenant One", "Tеnant One"),  # Cyrillic е
    ("Tenant One", "ТЕNАNТ ОNЕ"),  # Cyrillic Т, Е, А, О capitals
    ("Tenant One", "Ten\u200bant One"),  # a zero-width space
    ("Tenant One", "Ｔｅｎａｎｔ Ｏｎｅ"),  # full-width (NFKC)
    ("Shop 1", "Shop l"),
    ("VPN 0", "VPN O"),
])
def test_look_alike_names_share_a_key(name: str, other: str) -> None:
    assert bot_name_key(name) == bot_name_key(other)


@pytest.mark.parametrize("name, other", [("Ali VPN", "All VPN"), ("Мой VPN", "Мои VPN"), ("Tenant One", "Tenant Ones")])
def test_different_names_keep_different_keys(name: str, other: str) -> None:
    assert bot_name_key(name) != bot_name_key(other)


async def test_a_confusable_name_is_refused_as_looking_like_the_existing_bot(app, tmp_path) -> None:
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        await onboarding.create_tenant(session, **tenant(app, 1, "Tenant One"))  # the way `tenant create` does it
    with pytest.raises(Conflict, match="'Tеnant One' looks like 'Tenant One'") as refused:
        async with app.unit_of_work() as session:
            await onboarding.create_tenant(session, **tenant(app, 2, "Tеnant One"))
    assert refused.value.code == "name_taken"
    with pytest.raises(Conflict, match="looks like 'Tenant One'") as refused:  # the bot's registration
        async with app.unit_of_work() as session:
            draft, _ = await onboarding.start_registration(session, telegram_user_id=77, current=None)
            await onboarding.set_bot_name(session, draft=draft, telegram_user_id=77, name="TENANT  0NE")
    assert refused.value.code == "name_taken"
    async with app.unit_of_work() as session:
        assert (await session.scalars(select(Bot.name).where(Bot.is_master.is_(False)))).all() == ["Tenant One"]


async def test_a_telegram_bot_has_one_live_row_whatever_its_token(app, tmp_path) -> None:
    same_bot = BotIdentity(9090, "shop_bot", "Shop")
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))
        first = await service.provision_tenant(session, **tenant(app, 1, "Shop", same_bot))
    with pytest.raises(Conflict, match="already registered as tenant 'Shop'") as refused:
        async with app.unit_of_work() as session:  # the same bot, its token rotated in @BotFather
            await service.provision_tenant(session, **tenant(app, 2, "Shop Again", same_bot))
    assert refused.value.code == "token_taken"
    async with app.unit_of_work() as session:
        await session.execute(update(Bot).where(Bot.id == first.bot.id).values(status="cancelled"))
    async with app.unit_of_work() as session:  # a cancelled tenant's bot may come back
        again = await service.provision_tenant(session, **tenant(app, 2, "Shop Again", same_bot))
    assert again.bot.telegram_id == first.bot.telegram_id
    with pytest.raises(Conflict, match="runs as tenant 'Shop Again'") as refused:  # and the old row cannot come back
        async with app.unit_of_work() as session:
            await resume_tenant(session, bot_id=first.bot.id, actor="test")
    assert refused.value.code == "token_taken"


async def _race(app, monkeypatch, check: str, creates: list[dict]) -> list[object]:
    """Run `creates` concurrently, each waiting after `check` passed until all have passed it."""
    barrier = asyncio.Barrier(len(creates))
    original = getattr(service, check)

    async def checked_then_wait(*args, **kwargs):
        result = await original(*args, **kwargs)
        await barrier.wait()  # every create has seen no clash: only the database can stop the others now
        return result

    monkeypatch.setattr(service, check, checked_then_wait)

    async def create(args: dict):
        return await run_in_transaction(app.sessions, lambda session: service.provision_tenant(session, **args))

    async with asyncio.timeout(30):
        return await asyncio.gather(*(create(args) for args in creates), return_exceptions=True)


async def test_concurrent_creates_of_one_name_or_one_telegram_bot_make_one_bot(app, tmp_path, monkeypatch) -> None:
    async with app.unit_of_work() as session:
        await setup_platform(session, app.secret_box, write_env(tmp_path))

    names = await _race(app, monkeypatch, "ensure_name_free", [tenant(app, n, "Tenant One") for n in (1, 2, 3)])
    conflicts = [r for r in names if isinstance(r, Conflict)]
    assert len(conflicts) == 2 and {c.code for c in conflicts} == {"name_taken"}, names
    assert "looks like the name of a bot created at the same moment" in str(conflicts[0])
    monkeypatch.undo()

    same_bot = BotIdentity(4242, "raced_bot", "Raced")
    ids = await _race(app, monkeypatch, "ensure_token_free", [tenant(app, n, f"Raced {n}", same_bot) for n in (4, 5, 6)])
    conflicts = [r for r in ids if isinstance(r, Conflict)]
    assert len(conflicts) == 2 and {c.code for c in conflicts} == {"token_taken"}, ids

    async with app.unit_of_work() as session:
        assert await session.scalar(select(func.count()).where(Bot.name_key == bot_name_key("Tenant One"))) == 1
        assert await session.scalar(select(func.count()).where(Bot.telegram_id == 4242)) == 1
