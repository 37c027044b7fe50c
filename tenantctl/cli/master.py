"""`tenantctl master`: register the master bot and import the operator's `.env`."""

from __future__ import annotations

import typer

from tenantctl.cli.common import actor, console, line, print_json, run_tx

app = typer.Typer(help="The master bot: its token and the configuration tenants are cloned from.", no_args_is_help=True)

OFFLINE_NOTE = "getMe skipped (--offline): the token's format was checked, not whose bot it is"


@app.command()
def init(
    env: str = typer.Option(".env", "--env", help="The operator's .env to import as the master's configuration."),
    offline: bool = typer.Option(False, "--offline", help="Skip the getMe check against TELEGRAM_API_SERVER."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Register the master bot (MASTER_BOT_TOKEN, else BOT_TOKEN in the .env) and import the .env; again: update and diff.

    Example: `tenantctl master init --env /srv/bot/.env`.
    """
    from tenantctl.tenants.master import master_token_from, register_master
    from tenantctl.tenants.telegram import get_me, validate_token_format

    async def work(session, app_):
        token = validate_token_format(master_token_from(token=app_.settings.master_bot_token, env_path=env))
        identity = None if offline else await get_me(app_.settings.telegram_api_server, token)
        return await register_master(session, token=token, env_path=env, box=app_.secret_box, actor=actor(), identity=identity)

    report = run_tx(work)
    if as_json:
        print_json({**report.as_dict(), "verified_with_getme": not offline})
        return
    bot = report.bot
    who = f"@{bot.username}" if bot.username else bot.name
    console.print(f"{'registered' if report.created else 'updated'} the master bot {who} (id {bot.id})", highlight=False)
    if offline:
        console.print(line(("note:", "yellow"), f" {OFFLINE_NOTE}"), highlight=False)
    console.print(
        f"imported {env}: {len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed, {report.unchanged} unchanged (secret values are stored encrypted)",
        highlight=False,
    )
    if not report.created:
        for label, keys in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
            if keys:
                console.print(f"  {label}: {', '.join(keys)}", highlight=False, soft_wrap=True)
    for warning in report.warnings:
        console.print(line(("warning:", "yellow"), f" {env}: {warning}"), highlight=False)
