"""`tenantctl audit`: read the audit log."""

from __future__ import annotations

import json
from typing import Optional

import typer

from tenantctl.cli.common import console, parse_when, print_json, run_tx

app = typer.Typer(help="The append-only audit log of every change.", no_args_is_help=True)


def describe_change(before, after) -> str:
    """Only what changed: `key: old → new` for objects, else the values themselves."""

    def show(value) -> str:
        return json.dumps(value, ensure_ascii=False, default=str)

    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
        return "; ".join(f"{k}: {show(before.get(k))} → {show(after.get(k))}" for k in keys)[:300]
    if before is None:
        return show(after)[:300]
    return f"{show(before)} → {show(after)}"[:300]


@app.command("list")
def list_(
    bot: Optional[str] = typer.Option(None, "--bot", help="Only entries about this bot (id, @username or name)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only entries at or after this date/time (UTC)."),
    limit: int = typer.Option(200, "--limit", min=1, max=10000, help="At most this many entries, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Newest entries first.

    Example: `tenantctl audit list --bot @sever_vpn_bot --since 2026-11-01`.
    """
    from rich.table import Table

    from tenantctl.audit.schemas import entry_as_dict
    from tenantctl.audit.service import list_entries
    from tenantctl.tenants.lookup import resolve_bot

    async def work(session, _app):
        bot_id = (await resolve_bot(session, bot)).id if bot else None
        when = parse_when(since) if since else None
        return [entry_as_dict(e) for e in await list_entries(session, bot_id=bot_id, since=when, limit=limit)]

    entries = run_tx(work)
    if as_json:
        print_json(entries)
        return
    table = Table(title=f"{len(entries)} audit entries")
    for name in ("at (UTC)", "actor", "action", "entity", "change"):
        table.add_column(name, overflow="fold")
    for e in entries:
        table.add_row(e["at"][:19].replace("T", " "), e["actor"], e["action"], e["entity"], describe_change(e["before"], e["after"]))
    console.print(table)
