"""`tenantctl db`: migrations and keys."""

from __future__ import annotations

import typer

from tenantctl.cli.common import console, run_app

app = typer.Typer(help="Database schema (Alembic migrations) and encryption keys.", no_args_is_help=True)


def _migrate(action: str, revision: str) -> None:
    from tenantctl.core import migrate

    async def work(app_) -> str | None:
        await getattr(migrate, action)(app_.engine, revision)
        return await migrate.current_revision(app_.engine)

    current = run_app(work, check_schema=False)
    console.print(f"database is at revision [bold]{current or 'base'}[/]")


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the schema up to REVISION (default: head)."""
    _migrate("upgrade", revision)


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base or -1.")) -> None:
    """Migrate the schema down to REVISION."""
    _migrate("downgrade", revision)


@app.command()
def current() -> None:
    """Show the schema revision of the database and the newest one available."""
    from tenantctl.core import migrate
    from tenantctl.core.db import mask_url

    async def work(app_) -> tuple[str | None, str | None]:
        return await migrate.current_revision(app_.engine), migrate.head_revision()

    at, head = run_app(work, check_schema=False)
    from tenantctl.core.settings import Settings

    state = "up to date" if at == head else "behind: run `tenantctl db upgrade`"
    console.print(f"{mask_url(Settings.load().database_url)}: at [bold]{at or 'base'}[/], head {head} ({state})", highlight=False)


@app.command()
def keygen() -> None:
    """Print a new TENANTCTL_SECRET_KEY (store it safely; losing it loses the bot tokens)."""
    from tenantctl.core.crypto import SecretBox

    typer.echo(SecretBox.generate_key())
