"""`tenantctl tenant features` and `tenant override`: a tenant's effective flags and master overrides."""

from __future__ import annotations

from datetime import timezone
from typing import Optional

import typer

from tenantctl.cli.common import actor, console, fail, line, parse_config_options, parse_when, print_json, run_tx


def features(
    bot: str = typer.Argument(..., help="Bot id, @username or name."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Every feature of a tenant with each layer (and its rollout percentage): plan_value, override_value, value, source.

    Example: `tenantctl tenant features @sever_vpn_bot --json`.
    """
    from rich.table import Table

    from tenantctl.plans.effective import explain_bot_flags
    from tenantctl.tenants.lookup import resolve_bot

    async def work(session, _app):
        found = await resolve_bot(session, bot)
        return found.name, await explain_bot_flags(session, bot_id=found.id)

    name, rows = run_tx(work)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"features of {name}")
    for column in ("category", "feature", "default", "plan_value", "override_value", "value", "source"):
        table.add_column(column)

    def show(value) -> str:
        return "·" if value is None else ("on" if value is True else "off" if value is False else str(value))

    def share(rollout) -> str:
        if rollout is None:
            return ""
        inside = "" if rollout["in"] is None else (", in" if rollout["in"] else ", out")
        return f" ({rollout['percent']}% by {rollout['by']}{inside})"

    for row in rows:
        override = line(show(row["override_value"]) + share(row["override_rollout"]),
                        (" (expired)" if row["override_expired"] else "", "dim"))
        value = line((show(row["value"]), "green" if row["enabled"] else "dim"))
        key = line(row["key"], (" (master-only)" if row["master_only"] else "", "dim"))
        splits = "".join(f"; ≤{s['upto']}: {show(s['value'])}" for s in row["user_splits"] or ())
        table.add_row(row["category"], key, show(row["default_value"]), show(row["plan_value"]) + share(row["plan_rollout"]),
                      override, value + splits, row["source"])
    console.print(table)


def override(
    bot: str = typer.Argument(..., help="Bot id, @username or name."),
    feature: str = typer.Argument(..., help="Feature key."),
    on: bool = typer.Option(False, "--on", help="Force the feature on."),
    off: bool = typer.Option(False, "--off", help="Force the feature off."),
    inherit: bool = typer.Option(False, "--inherit", help="Follow the plan again (clears the override unless a config is given)."),
    value: Optional[str] = typer.Option(None, "--value", help="A mode feature's value."),
    config: Optional[str] = typer.Option(None, "--config", help="Config override as a JSON object."),
    set_: list[str] = typer.Option([], "--set", help="Config override KEY=VALUE (repeatable)."),
    rollout: Optional[int] = typer.Option(None, "--rollout", min=0, max=100,
                                          help="Apply the override to this percentage only (0-100); the rest follow the plan."),
    rollout_by: str = typer.Option("tenant", "--rollout-by", help="Whom a rollout sticks to: tenant (bot) or user (OFREP targetingKey)."),
    expires: Optional[str] = typer.Option(None, "--expires", help="When the override stops applying: a date or ISO time, UTC unless it gives an offset (+03:30)."),
    reason: str = typer.Option(..., "--reason", help="Why; kept in the audit log."),
) -> None:
    """Set or clear a master override of one feature for one tenant; it survives plan syncs and changes.

    Example: `tenantctl tenant override @sever_vpn_bot yookassa --on --expires 2027-01-01 --reason 'trial of the gateway'`.
    """
    from tenantctl.tenants.lookup import resolve_bot
    from tenantctl.tenants.overrides import set_override

    if on + off + inherit + (value is not None) != 1:
        fail("give exactly one of --on, --off, --inherit or --value")
    enabled = True if on else False if off else None
    overrides = parse_config_options(config, set_)

    async def work(session, _app):
        found = await resolve_bot(session, bot)
        when = parse_when(expires) if expires else None
        return found.name, await set_override(session, bot_id=found.id, feature=feature, enabled=enabled, value=value,
                                              config=overrides, expires_at=when, reason=reason, actor=actor(),
                                              rollout_percent=rollout, rollout_by=rollout_by)

    name, result = run_tx(work)
    if result is None:
        console.print(f"{name}: override of {feature} cleared; the plan applies", highlight=False)
    else:
        state = result.value or {True: "on", False: "off", None: "inherit"}[result.enabled]
        until = f" for {result.rollout_percent}% by {result.rollout_by}" if result.rollout_percent is not None else ""
        until += f" until {result.expires_at.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC" if result.expires_at else ""
        console.print(f"{name}: {feature} overridden ({state}){until}", highlight=False)
