"""`tenantctl tenant stats`: one tenant's dashboard (stats/dashboard.py), beside the previous period."""

from __future__ import annotations

from typing import Any, Callable, Optional

import typer

from tenantctl.cli.common import console, line, or_fail, print_json, run_tx


def _change(figure: dict[str, Any]) -> str:
    ratio = figure["change_ratio"]
    if ratio is not None:
        return f"{ratio:+.1%}"
    return "—" if figure["change"] in (None, 0) else "new"


def _when(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "…"


def _count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}".replace(",", " ")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def stats(
    bot: str = typer.Argument(..., help="Bot id, @username or name."),
    period: Optional[str] = typer.Option(None, "--period", help="today, 7d, 30d, month or all (default 30d)."),
    date_from: Optional[str] = typer.Option(None, "--from", help="First day of a custom range, YYYY-MM-DD (UTC; with --to)."),
    date_to: Optional[str] = typer.Option(None, "--to", help="Last day of a custom range, YYYY-MM-DD, included."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (money in kopeks, traffic in bytes)."),
) -> None:
    """A tenant's statistics: users, subscriptions, revenue by payment method and traffic, beside the previous period.

    Income is succeeded deposits and subscription payments through real payment methods (card to card included);
    manual credits and balance spending are listed apart and not counted.

    Example: `tenantctl tenant stats @sever_vpn_bot --period 7d`.
    """
    from rich.table import Table

    from tenantctl.core.money import format_money
    from tenantctl.stats.dashboard import human_bytes, resolve_period, tenant_dashboard
    from tenantctl.tenants.lookup import resolve_bot

    window = or_fail(lambda: resolve_period(period, date_from=date_from, date_to=date_to))

    async def work(session, _app):
        found = await resolve_bot(session, bot)
        return found.name, found.username, (await tenant_dashboard(session, bot_id=found.id, period=window)).as_dict()

    name, username, data = run_tx(work)
    if as_json:
        print_json(data)
        return
    p = data["period"]
    console.print(line((name, "bold"), f" @{username}" if username else "", f"  {p['name']}: {_when(p['start'])} → {_when(p['end'])} UTC",
                       f", previous {_when(p['previous_start'])} → {_when(p['previous_end'])}" if p["previous_end"] else ""),
                  highlight=False)

    def money(kopeks: int | None) -> str:
        return "—" if kopeks is None else format_money(kopeks)

    def traffic(amount: int | None) -> str:
        return "—" if amount is None else human_bytes(amount)

    table = Table(show_edge=False, pad_edge=False)
    for column, justify in (("", "left"), ("period", "right"), ("previous", "right"), ("change", "right")):
        table.add_column(column, justify=justify)

    def compared(label: str, figure: dict[str, Any], show: Callable[[Any], str]) -> None:
        table.add_row(label, show(figure["current"]), show(figure["previous"]), _change(figure))

    users, subs, revenue, traffic_ = data["users"], data["subscriptions"], data["revenue"], data["traffic"]
    compared("users", users["total"], _count)
    compared("new users", users["new"], _count)
    table.add_row("active / blocked now", f"{_count(users['active'])} / {_count(users['blocked'])}", "", "")
    table.add_row("joined today / 7 d / 30 d", f"{users['new_today']} / {users['new_7d']} / {users['new_30d']}", "", "")
    table.add_row("growth", _percent(users["growth"]), "", "")
    table.add_section()
    table.add_row("subscriptions active now", f"{subs['active']} (trial {subs['trial']}, paid {subs['paid']})", "", "")
    table.add_row("expired", _count(subs["expired"]), "", "")
    table.add_row("expiring in 3 d / 7 d", f"{subs['expiring_3d']} / {subs['expiring_7d']}", "", "")
    compared("purchases", subs["purchases"], _count)
    compared("renewals", subs["renewals"], _count)
    compared("paid conversion", subs["conversion"], _percent)
    table.add_section()
    for label, key in (("income", "income"), ("refunds", "refunds"), ("withdrawals", "withdrawals"), ("profit", "profit"),
                       (f"commission {revenue['revenue_share_percent']}%", "commission"), ("net", "net"), ("ARPU", "arpu")):
        compared(label, revenue[key], money)
    table.add_section()
    compared("traffic consumed", traffic_["consumed_bytes"], traffic)
    compared("traffic sold", traffic_["sold_bytes"], traffic)
    table.add_row("sold / consumed", "—" if traffic_["sold_to_consumed"] is None else f"{traffic_['sold_to_consumed']:.2f}", "", "")
    console.print(table)
    methods = Table(title="income by payment method (period)", show_edge=False, pad_edge=False)
    for column, justify in (("method", "left"), ("payments", "right"), ("amount", "right"), ("share", "right")):
        methods.add_column(column, justify=justify)
    income = revenue["income"]["current"]
    for method in revenue["by_method"]:
        methods.add_row(method["method"], _count(method["count"]), money(method["amount_kopeks"]),
                        _percent(method["amount_kopeks"] / income if income else None))
    for method in revenue["not_income"]:
        methods.add_row(f"{method['method']} (not income)", _count(method["count"]), money(method["amount_kopeks"]), "")
    if revenue["by_method"] or revenue["not_income"]:
        console.print(methods)
    else:
        console.print("no payments in this period", highlight=False)
