"""`tenantctl demo`: a ready-to-explore database (master, plans, three tenants, 90 days of data)."""

from __future__ import annotations

from typing import Optional

import typer

from tenantctl.cli.common import actor, console, print_json, run_tx, working

NEXT_STEPS = """\
tenantctl tenant list
tenantctl tenant show @aurora_vpn_bot
tenantctl tenant features @sever_vpn_bot
tenantctl plans grants
tenantctl billing tick                 # Aurora VPN's renewal falls due
tenantctl billing record-payment @aurora_vpn_bot --amount 5000 --method manual --reference DEMO-1
tenantctl tenant clone-config @nimbus_vpn_bot --dry-run
tenantctl audit list"""


def demo(
    env: Optional[str] = typer.Option(None, "--env", help="The .env.example the master is built from."),
    reset: bool = typer.Option(False, "--reset", help="Delete every bot and its data first (SQLite only)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Build a demo: catalogue, plans, a master and three tenants with users, payments and 90 days of traffic.

    Example: `tenantctl demo --reset`.
    """
    from tenantctl.core.db import utcnow
    from tenantctl.core.errors import Invalid
    from tenantctl.core.money import format_money
    from tenantctl.flags.service import env_example_path
    from tenantctl.demo.service import EXAMPLE_ENV, build_demo

    async def work(session, app_):
        if reset and not app_.settings.is_sqlite:  # an operator's safety net; the service itself resets anywhere
            raise Invalid("--reset deletes every bot: it is refused on PostgreSQL; run the demo on the SQLite default")
        path = env_example_path(env, app_.settings.env_example_path, fallback=str(EXAMPLE_ENV))
        report = await build_demo(session, box=app_.secret_box, env_path=path, actor=actor(), now=utcnow(), reset=reset)
        return path, report

    with working("building the demo: catalogue, plans, a master bot and three tenants with 90 days of data"):
        path, report = run_tx(work)
    tenants = [t.as_dict() for t in report.tenants]
    if as_json:
        print_json({"env": path, "features": report.catalogue_features, "plans": report.plans, "counts": report.counts,
                    "tenants": tenants})
        return
    from rich.table import Table

    console.print(f"catalogue: {report.catalogue_features} features from {path}; plans: {', '.join(report.plans)}; "
                  f"master: @{report.master.username} (offline, fake token)", highlight=False)
    table = Table(title="demo tenants")
    for column in ("name", "username", "plan", "language", "paid until"):
        table.add_column(column)
    for t in report.tenants:
        table.add_row(t.bot.name, f"@{t.bot.username}", t.plan.name, t.bot.default_language, t.subscription.end_date.date().isoformat())
    console.print(table)
    console.print("API tokens (shown once; demo tokens, but store real ones in a password manager):", highlight=False)
    for t in report.tenants:
        typer.echo(f"  {t.bot.name:<12} {t.api_token_plaintext}")
    counts = report.counts
    console.print(f"end users: {counts['users']} users, {counts['subscriptions']} subscriptions, "
                  f"{counts['transactions']} transactions, {counts['traffic_days']} days of traffic "
                  f"(plans cost {', '.join(format_money(t.plan.monthly_price_kopeks) for t in report.tenants)} a month)",
                  highlight=False)
    console.print("\ntry next:", highlight=False)
    typer.echo(NEXT_STEPS)
