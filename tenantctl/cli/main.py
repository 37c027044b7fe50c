"""The `tenantctl` command: one Typer sub-app per noun. Heavy imports stay inside commands."""

from __future__ import annotations

import typer

from tenantctl.cli import api, audit, billing, bot, cards, db, demo, flags, master, plans, sandbox, tenant

app = typer.Typer(
    name="tenantctl",
    help="Control plane for white-label VPN Telegram bots: feature flags, plans, tenants and the bot.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"tenantctl {version('tenantctl')}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Control plane for white-label VPN Telegram bots: feature flags, plans, tenants and the bot.

    Example: `tenantctl demo`, then `tenantctl tenant list`.
    """
app.add_typer(db.app, name="db")
app.add_typer(flags.app, name="flags")
app.add_typer(plans.app, name="plans")
app.add_typer(audit.app, name="audit")
app.add_typer(bot.app, name="bot")
app.add_typer(master.app, name="master")
app.add_typer(tenant.app, name="tenant")
app.add_typer(billing.app, name="billing")
app.add_typer(cards.app, name="cards")
app.add_typer(api.app, name="api")
app.command("demo")(demo.demo)
app.command("sandbox")(sandbox.sandbox)


def main() -> None:
    """Console-script entry point."""
    app()
