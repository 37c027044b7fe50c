"""`tenantctl tenant`: provision tenant bots and run their lifecycle, admins, API tokens and config.

BOT is an id, @username or name everywhere. `tenant features` and `tenant override` are added
to this app from `cli/overrides.py`.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer

from tenantctl.cli import overrides, tenant_manage, tenant_stats
from tenantctl.cli.common import actor, console, fail, line, print_json, run_tx
from tenantctl.cli.master import OFFLINE_NOTE
from tenantctl.tenants.rules import DEFAULT_LANGUAGE

app = typer.Typer(help="Tenant bots: create, list, show, plan, lifecycle, admins, API tokens, config.", no_args_is_help=True)

BOT_ARG = typer.Argument(..., help="Bot id, @username or name.")
TOKEN_ADVICE = "API token (shown once: store it now, e.g. in a password manager; only its hash is kept):"


def _date(iso: Optional[str]) -> str:
    return iso[:10] if iso else "—"


def _in_tenant(bot: str, call):
    """Run `call(session, bot_row, app)` in one transaction on the tenant named by BOT."""
    from tenantctl.tenants.lookup import resolve_bot

    async def work(session, app_):
        return await call(session, await resolve_bot(session, bot), app_)

    return run_tx(work)


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="The bot's name (3-64 characters)."),
    token: str = typer.Option(..., "--token", help="The bot's token from @BotFather ('-' reads it from stdin)."),
    owner: int = typer.Option(..., "--owner", help="The owner's Telegram user id."),
    plan: str = typer.Option(..., "--plan", help="Subscription plan, e.g. starter."),
    language: str = typer.Option(DEFAULT_LANGUAGE, "--language", help="fa, ru or en."),
    support: Optional[str] = typer.Option(None, "--support", help="Support @username."),
    offline: bool = typer.Option(False, "--offline", help="Skip the getMe check (the format is still checked)."),
    share: list[str] = typer.Option([], "--share", help="Copy this secret-looking master key too (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create a tenant bot in one transaction: bot, owner, subscription, cloned config, features, API token.

    Example: `tenantctl tenant create --name 'Sever VPN' --token 123456:ABC... --owner 111222333 --plan growth`.
    """
    from tenantctl.onboarding.service import create_tenant
    from tenantctl.tenants.telegram import get_me, validate_token_format

    if token == "-":
        token = sys.stdin.readline().strip()

    async def work(session, app_):
        checked = validate_token_format(token)
        identity = None if offline else await get_me(app_.settings.telegram_api_server, checked)
        return await create_tenant(
            session, name=name, token=checked, owner_telegram_id=owner, plan=plan, language=language,
            support_username=support, box=app_.secret_box, actor=actor(), identity=identity, share_keys=share,
        )

    result = run_tx(work)
    data = result.as_dict()
    if as_json:
        print_json({**data, "verified_with_getme": not offline})
        return
    who = f" @{data['username']}" if data["username"] else ""
    console.print(f"created tenant {data['name']}{who} (id {data['id']}) on plan {data['plan']}, "
                  f"active until {_date(data['end_date'])}", highlight=False)
    clone = result.clone_report
    console.print(f"config: {len(clone.copied)} keys copied from the master, {len(clone.excluded)} excluded"
                  + (f", shared: {', '.join(clone.shared)}" if clone.shared else ""), highlight=False)
    if offline:
        console.print(line(("note:", "yellow"), f" {OFFLINE_NOTE}"), highlight=False)
    console.print(TOKEN_ADVICE, highlight=False)
    typer.echo(f"  {result.api_token_plaintext}")


@app.command("list")
def list_(
    status: Optional[str] = typer.Option(None, "--status", help="Only bots in this status."),
    plan: Optional[str] = typer.Option(None, "--plan", help="Only tenants on this plan."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Every tenant with its status, plan, end date and user count.

    Example: `tenantctl tenant list --status active --json`.
    """
    from rich.table import Table

    from tenantctl.stats.service import list_tenants

    async def work(session, _app):
        return [row.as_dict() for row in await list_tenants(session, status=status, plan=plan)]

    rows = run_tx(work)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no tenants" + (" match" if status or plan else " yet: `tenantctl tenant create` or `tenantctl demo`"))
        return
    table = Table()
    for column in ("id", "name", "username", "status", "plan", "ends", "users"):
        table.add_column(column, justify="right" if column in ("id", "users") else "left")
    for row in rows:
        table.add_row(str(row["id"]), row["name"], f"@{row['username']}" if row["username"] else "—", row["status"],
                      row["plan"] or "—", _date(row["end_date"]), str(row["user_count"]))
    console.print(table)


@app.command()
def show(bot: str = BOT_ARG, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """One tenant: bot, subscription, admins, API tokens, configuration and payments.

    Example: `tenantctl tenant show @sever_vpn_bot`.
    """
    from tenantctl.core.money import format_money
    from tenantctl.stats.service import tenant_details

    details = _in_tenant(bot, lambda session, found, _app: tenant_details(session, bot_id=found.id))
    if as_json:
        print_json(details)
        return
    lines = [
        ("name", details["name"]), ("username", f"@{details['username']}" if details["username"] else "— (not checked with getMe)"),
        ("id", details["id"]), ("status", details["status"]), ("plan", details["plan"]),
        ("subscription", f"{details['subscription_status']}, {_date(details['start_date'])} → {_date(details['end_date'])}"
                         f"{'' if details['auto_renewal'] else ' (no auto-renewal)'}"),
        ("language", details["language"]), ("support", details["support_username"] or "—"), ("owner", details["owner_telegram_id"]),
        ("admins", ", ".join(f"{a['telegram_user_id']} ({a['role']})" for a in details["admins"])),
        ("API tokens", ", ".join(t["prefix"] + (" (revoked)" if t["revoked_at"] else "") for t in details["api_tokens"]) or "—"),
        ("config keys", details["config_keys"]), ("features on", details["features_enabled"]), ("users", details["users"]),
    ]
    for label, value in lines:
        console.print(line((f"{label:>13}", "bold"), f"  {value}"), highlight=False)
    for p in details["payments"]:
        console.print(f"{'payment':>13}  {p['purpose']} {p['status']} {format_money(p['amount'], p['currency'])} "
                      f"{p['method']} {p['reference'] or ''} due {_date(p['due_at'])}", highlight=False)


@app.command("set-plan")
def set_plan(bot: str = BOT_ARG, plan: str = typer.Argument(..., help="The new plan.")) -> None:
    """Move a tenant to another plan; its features follow in the same transaction.

    Example: `tenantctl tenant set-plan @sever_vpn_bot enterprise`.
    """
    from tenantctl.plans.service import change_tenant_plan

    from tenantctl.plans.models import TenantSubscriptionPlan

    async def call(session, found, _app):
        subscription = await change_tenant_plan(session, bot_id=found.id, plan=plan, actor=actor())
        return found.name, (await session.get(TenantSubscriptionPlan, subscription.plan_tier_id)).name

    name, plan_name = _in_tenant(bot, call)
    console.print(f"{name} is on plan {plan_name}; its features follow", highlight=False)


def _lifecycle(bot: str, action: str) -> None:
    from tenantctl.billing import lifecycle

    change = {"suspend": lifecycle.suspend_tenant, "resume": lifecycle.resume_tenant, "cancel": lifecycle.cancel_tenant}[action]

    async def call(session, found, _app):
        return await change(session, bot_id=found.id, actor=actor())

    changed = _in_tenant(bot, call)
    console.print(f"{changed.name} is {changed.status}", highlight=False)


@app.command()
def suspend(bot: str = BOT_ARG) -> None:
    """Stop an active tenant bot.

    Example: `tenantctl tenant suspend @sever_vpn_bot`.
    """
    _lifecycle(bot, "suspend")


@app.command()
def resume(bot: str = BOT_ARG) -> None:
    """Bring a suspended or cancelled tenant back (its paid period must still run).

    Example: `tenantctl tenant resume @sever_vpn_bot`.
    """
    _lifecycle(bot, "resume")


@app.command()
def cancel(bot: str = BOT_ARG) -> None:
    """Cancel a tenant: the bot stops and every feature turns off.

    Example: `tenantctl tenant cancel @sever_vpn_bot`.
    """
    _lifecycle(bot, "cancel")


@app.command()
def admins(
    bot: str = BOT_ARG,
    action: str = typer.Argument("list", help="add | remove | list"),
    user_id: Optional[int] = typer.Argument(None, help="Telegram user id (add, remove)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """A tenant's admins: add, remove (never the owner) or list.

    Example: `tenantctl tenant admins @sever_vpn_bot add 444555666`.
    """
    from tenantctl.tenants import admins as service
    from tenantctl.tenants.schemas import admin_as_dict

    if action not in ("add", "remove", "list"):
        fail(f"unknown action {action!r}: use add, remove or list")
    if action != "list" and user_id is None:
        fail(f"admins {action} needs a Telegram user id")

    async def call(session, found, _app):
        if action == "add":
            await service.add_admin(session, bot_id=found.id, telegram_user_id=user_id, actor=actor())
        elif action == "remove":
            await service.remove_admin(session, bot_id=found.id, telegram_user_id=user_id, actor=actor())
        return found.name, [admin_as_dict(a) for a in await service.list_admins(session, bot_id=found.id)]

    name, rows = _in_tenant(bot, call)
    if as_json:
        print_json(rows)
        return
    if action != "list":
        console.print(f"{'added' if action == 'add' else 'removed'} admin {user_id} of {name}", highlight=False)
    console.print(f"admins of {name}: " + ", ".join(f"{a['telegram_user_id']} ({a['role']})" for a in rows), highlight=False)


@app.command()
def token(
    bot: str = BOT_ARG,
    action: str = typer.Argument("list", help="issue | list | revoke"),
    prefix: Optional[str] = typer.Argument(None, help="The token's prefix (revoke)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """A tenant's API tokens: issue one (shown once), list them, or revoke one by prefix.

    Example: `tenantctl tenant token @sever_vpn_bot issue`.
    """
    from tenantctl.tenants import tokens as service
    from tenantctl.tenants.schemas import token_as_dict

    if action not in ("issue", "list", "revoke"):
        fail(f"unknown action {action!r}: use issue, list or revoke")
    if action == "revoke" and not prefix:
        fail("token revoke needs the token's prefix (see `tenantctl tenant token BOT list`)")

    async def call(session, found, _app):
        plaintext = None
        if action == "issue":
            plaintext, _row = await service.issue_api_token(session, bot_id=found.id, actor=actor())
        elif action == "revoke":
            await service.revoke_api_token(session, bot_id=found.id, prefix=prefix, actor=actor())
        return found.name, plaintext, [token_as_dict(t) for t in await service.list_api_tokens(session, bot_id=found.id)]

    name, plaintext, rows = _in_tenant(bot, call)
    if as_json:
        print_json({"api_token": plaintext, "tokens": rows} if plaintext else rows)
        return
    if plaintext:
        console.print(TOKEN_ADVICE, highlight=False)
        typer.echo(f"  {plaintext}")
        return
    if action == "revoke":
        console.print(f"revoked {prefix} of {name}", highlight=False)
    for row in rows:
        state = f"revoked {_date(row['revoked_at'])}" if row["revoked_at"] else "active"
        console.print(f"{row['prefix']}  created {_date(row['created_at'])}  last used {_date(row['last_used_at'])}  {state}", highlight=False)
    if not rows:
        console.print(f"{name} has no API tokens")


@app.command("clone-config")
def clone_config(
    bot: str = BOT_ARG,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would be copied, excluded and kept."),
    share: list[str] = typer.Option([], "--share", help="Copy this secret-looking master key too (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Copy the master's configuration to a tenant again (a snapshot; tenant-edited keys are kept).

    Example: `tenantctl tenant clone-config @sever_vpn_bot --dry-run`.
    """
    from tenantctl.tenants.config import clone_master_config_to_tenant

    async def call(session, found, _app):
        report = await clone_master_config_to_tenant(session, tenant_bot_id=found.id, share_keys=share, dry_run=dry_run, actor=actor())
        return found.name, report

    name, report = _in_tenant(bot, call)
    if as_json:
        print_json(report.as_dict())
        return
    verb = "would" if dry_run else "did"
    _print_keys(f"{name}: {verb} copy", report.copied)
    _print_keys(f"{verb} set tenant defaults", [f"{k}={v!r}" for k, v in report.defaults.items()])
    _print_keys(f"{verb} keep (edited by the tenant)", report.kept_tenant_edited)
    _print_keys(f"{verb} remove (no longer in the snapshot)", report.removed)
    console.print(f"{verb} exclude {len(report.excluded)}:", highlight=False)
    for key, reason in report.excluded.items():
        console.print(f"  {key}: {reason}", highlight=False)


def _print_keys(label: str, keys: list[Any]) -> None:
    console.print(f"{label} {len(keys)}" + (f": {', '.join(map(str, keys))}" if keys else ""), highlight=False, soft_wrap=True)


app.command("features")(overrides.features)
app.command("stats")(tenant_stats.stats)
app.command("override")(overrides.override)
app.add_typer(tenant_manage.plans_app, name="plans")
app.add_typer(tenant_manage.cards_app, name="cards")
app.add_typer(tenant_manage.gateway_app, name="gateway")
