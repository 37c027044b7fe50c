"""`tenantctl db`: migrations and keys."""

from __future__ import annotations

from pathlib import Path

import typer

from tenantctl.cli.common import actor, console, fail, line, or_fail, print_json, run_app, run_tx, working

app = typer.Typer(help="Database schema (Alembic migrations) and encryption keys.", no_args_is_help=True)


def _migrate(action: str, revision: str) -> None:
    from tenantctl.core import migrate

    async def work(app_) -> str | None:
        await getattr(migrate, action)(app_.engine, revision)
        return await migrate.current_revision(app_.engine)

    with working(f"migrating ({action} {revision})"):
        current = run_app(work, check_schema=False)
    console.print(line("database is at revision ", (current or "base", "bold")))


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the schema up to REVISION (default: head).

    Example: `tenantctl db upgrade`.
    """
    _migrate("upgrade", revision)


@app.command(context_settings={"ignore_unknown_options": True})  # so that `-1` is a revision, not an option
def downgrade(
    revision: str = typer.Argument(..., help="Target revision: -1 (one step), a revision id, or base (drops every table)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask before going down to base."),
) -> None:
    """Migrate the schema down to REVISION.

    Examples: `tenantctl db downgrade -1`; `tenantctl db downgrade base --yes` (deletes all data).
    """
    if revision == "base" and not yes and not typer.confirm("Downgrading to base drops every table and all data. Continue?"):
        fail("nothing changed", code=1)
    _migrate("downgrade", revision)


@app.command()
def current(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show where the data is, its schema revision and the newest one available. Example: `tenantctl db current --json`."""
    from tenantctl.core import migrate
    from tenantctl.core.db import mask_url

    async def work(app_) -> tuple[str | None, str | None]:
        return await migrate.current_revision(app_.engine), migrate.head_revision()

    at, head = run_app(work, check_schema=False)
    from tenantctl.core.settings import Settings

    if as_json:
        print_json({"database": mask_url(Settings.load().database_url), "revision": at, "head": head, "up_to_date": at == head})
        return
    state = "up to date" if at == head else "behind: run `tenantctl db upgrade`"
    console.print(line(f"{mask_url(Settings.load().database_url)}: at ", (at or "base", "bold"), f", head {head} ({state})"),
                  highlight=False)


@app.command()
def keygen() -> None:
    """Print a new TENANTCTL_SECRET_KEY (store it safely; losing it loses the bot tokens).

    Example: `tenantctl db keygen > /etc/tenantctl/secret.key`.
    """
    from tenantctl.core.crypto import SecretBox

    typer.echo(SecretBox.generate_key())


@app.command("rotate-key")
def rotate_key(
    new_key_file: Path = typer.Option(..., "--new-key-file", help="A file holding the new key (`tenantctl db keygen > FILE`)."),
) -> None:
    """Re-encrypt every secret under a new key, in one transaction (stop `tenantctl bot run` first).

    Example: `tenantctl db keygen > new.key && tenantctl db rotate-key --new-key-file new.key`.
    """
    from tenantctl.core.crypto import SecretBox
    from tenantctl.onboarding.keys import rotate_secret_key

    try:
        text = new_key_file.read_text().strip()
    except OSError as exc:
        fail(f"cannot read {new_key_file}: {exc.strerror}", code=2)
    new = or_fail(lambda: SecretBox(text, source=f"the key file {new_key_file}"))

    async def work(session, app_) -> tuple[dict[str, int], str]:
        old = app_.secret_box
        return await rotate_secret_key(session, old=old, new=new, actor=actor()), old.source

    with working("re-encrypting every secret"):
        counts, old_source = run_tx(work)
    console.print(", ".join(f"{name}: {count}" for name, count in counts.items()) + " re-encrypted", highlight=False)
    console.print(f"now replace {old_source} with the key in {new_key_file}, then start `tenantctl bot run` again: "
                  "it sets every webhook with its new secret", highlight=False)
