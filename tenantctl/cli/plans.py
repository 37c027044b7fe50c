"""`tenantctl plans`: tenant subscription plans and the features they grant."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer

from tenantctl.cli.common import actor, console, fail, line, or_fail, parse_config_options, print_json, run_tx

PLAN_ARG = typer.Argument(..., help="The plan's name, e.g. growth.")
FEATURE_ARG = typer.Argument(..., help="The feature's key (see `tenantctl flags list`).")

app = typer.Typer(help="Tenant subscription plans (starter / growth / enterprise) and their feature grants.", no_args_is_help=True)


def _money(text: Optional[str]) -> Optional[int]:
    if text is None:
        return None
    from tenantctl.core.money import parse_rubles

    return or_fail(lambda: parse_rubles(text))


def _plan_row(plan: dict[str, Any]) -> list[str]:
    from tenantctl.core.money import format_money

    return [
        plan["name"],
        plan["display_name"],
        format_money(plan["monthly_price_kopeks"]),
        format_money(plan["activation_fee_kopeks"]),
        "all" if plan["grants_all_features"] else "listed",
        "active" if plan["is_active"] else line(("archived", "dim")),
    ]


@app.command()
def seed(
    path: Optional[str] = typer.Option(None, "--file", help="YAML or JSON seed file (default: the starter / growth / enterprise seed shipped with tenantctl)."),
    reset: bool = typer.Option(False, "--reset", help="Put existing seed plans back to the file's values and grants."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Create the default plans; plans whose grants were never edited get the file's features that reached the catalogue since.

    Example: `tenantctl plans seed`.
    """
    from tenantctl.plans.service import load_plan_seed, seed_plans

    plans = or_fail(lambda: load_plan_seed(path) if path else load_plan_seed())

    async def work(session, _app):
        return await seed_plans(session, plans=plans, actor=actor(), reset=reset)

    report = run_tx(work)
    if as_json:
        print_json(report.as_dict())
        return
    for label, names in (("created", report.created), ("reset", report.reset), ("unchanged", report.unchanged)):
        if names:
            console.print(f"{label}: {', '.join(names)}", highlight=False)
    for name, keys in report.added.items():
        console.print(f"added to {name}: {', '.join(keys)}", highlight=False)
    for name, keys in report.edited.items():
        console.print(line(("left alone", "yellow"), f" {name} (its grants were edited; `plans grant` to add): {', '.join(keys)}"),
                      highlight=False)
    if report.skipped_features:
        console.print(line(("skipped grants for features not in the catalogue or master-only", "yellow"),
                           f" (run `tenantctl flags sync` first): {', '.join(report.skipped_features)}"), highlight=False)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Every plan, archived ones included.

    Example: `tenantctl plans list --json`.
    """
    from rich.table import Table

    from tenantctl.plans.schemas import plan_as_dict
    from tenantctl.plans.service import list_plans

    async def work(session, _app):
        return [plan_as_dict(p) for p in await list_plans(session)]

    plans = run_tx(work)
    if as_json:
        print_json(plans)
        return
    if not plans:
        console.print("no plans yet: run `tenantctl plans seed`")
        return
    table = Table()
    for name in ("plan", "display name", "monthly", "activation fee", "features", "status"):
        table.add_column(name)
    for plan in plans:
        table.add_row(*_plan_row(plan))
    console.print(table)


@app.command()
def show(plan: str = PLAN_ARG, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """One plan with its grants.

    Example: `tenantctl plans show growth`.
    """
    from tenantctl.core.money import format_money
    from tenantctl.plans.schemas import plan_as_dict
    from tenantctl.plans.service import get_plan, grants_matrix

    async def work(session, _app):
        return plan_as_dict(await get_plan(session, plan)), await grants_matrix(session, plan=plan)

    info, matrix = run_tx(work)
    granted = {f["key"]: f["grants"][info["name"]] for f in matrix["features"] if f["grants"][info["name"]] is not None}
    if as_json:
        print_json({**info, "grants": granted})
        return
    console.print(line((info["name"], "bold"), f" — {info['display_name']}: {format_money(info['monthly_price_kopeks'])}/month, "
                       f"activation {format_money(info['activation_fee_kopeks'])}",
                       ("" if info["is_active"] else " (archived)", "dim")), highlight=False)
    if info["description"]:
        console.print(info["description"], highlight=False)
    if info["grants_all_features"]:
        console.print("grants every catalogue feature, including future ones")
    for key, cell in granted.items():
        state = cell["value"] or ("on" if cell["enabled"] else "off")
        if cell.get("rollout_percent") is not None:
            state += f" for {cell['rollout_percent']}% by {cell['rollout_by']}"
        extra = f" config {json.dumps(cell['config'], ensure_ascii=False)}" if cell["config"] else ""
        console.print(f"  {key}: {state}{extra}", highlight=False)


@app.command()
def create(
    name: str = typer.Argument(..., help="The plan's name (lower case, unique), e.g. pro."),
    display_name: Optional[str] = typer.Option(None, "--display-name", help="The name tenants see (default: NAME)."),
    price: str = typer.Option(..., "--price", help="Monthly price: 5000, 5000.00 or 5000 RUB."),
    activation_fee: str = typer.Option("0", "--activation-fee", help="One-off fee to activate a tenant: 3000, 3000.00 or 3000 RUB."),
    description: Optional[str] = typer.Option(None, help="A line describing the plan."),
    all_features: bool = typer.Option(False, "--all-features", help="Grant every catalogue feature, now and later."),
    sort_order: int = typer.Option(0, "--sort-order", help="Position in lists (lowest first)."),
) -> None:
    """Create a plan.

    Example: `tenantctl plans create pro --price 9000 --activation-fee 3000`.
    """
    from tenantctl.plans.service import create_plan

    fields = {"monthly_price_kopeks": _money(price), "activation_fee_kopeks": _money(activation_fee),
              "description": description, "grants_all_features": all_features, "sort_order": sort_order}
    if display_name:
        fields["display_name"] = display_name

    async def work(session, _app):
        return (await create_plan(session, name=name, actor=actor(), **fields)).name

    console.print(f"created plan {run_tx(work)}", highlight=False)


@app.command()
def edit(
    plan: str = PLAN_ARG,
    display_name: Optional[str] = typer.Option(None, "--display-name", help="The name tenants see (default: NAME)."),
    price: Optional[str] = typer.Option(None, "--price", help="Monthly price: 5000, 5000.00 or 5000 RUB."),
    activation_fee: Optional[str] = typer.Option(None, "--activation-fee", help="One-off activation fee, as --price."),
    revenue_share: Optional[int] = typer.Option(None, "--revenue-share", min=0, max=100,
                                                help="The platform's commission on the tenants' income, in percent."),
    description: Optional[str] = typer.Option(None, help="A line describing the plan."),
    all_features: Optional[bool] = typer.Option(None, "--all-features/--listed-features",
                                                help="Grant every catalogue feature, or only the listed grants."),
    sort_order: Optional[int] = typer.Option(None, "--sort-order", help="Position in lists (lowest first)."),
    active: Optional[bool] = typer.Option(None, "--active/--archived", help="Open to new tenants, or archived."),
) -> None:
    """Change a plan; its tenants follow.

    Example: `tenantctl plans edit growth --price 7000 --revenue-share 10`.
    """
    from tenantctl.plans.service import edit_plan

    changes = {
        "display_name": display_name,
        "monthly_price_kopeks": _money(price),
        "activation_fee_kopeks": _money(activation_fee),
        "revenue_share_percent": revenue_share,
        "description": description,
        "grants_all_features": all_features,
        "sort_order": sort_order,
        "is_active": active,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        fail("nothing to change: give at least one option (see --help)")

    async def work(session, _app):
        return (await edit_plan(session, name=plan, actor=actor(), **changes)).name

    console.print(f"updated plan {run_tx(work)}", highlight=False)


@app.command()
def archive(plan: str = PLAN_ARG) -> None:
    """Hide a plan from new registrations; tenants on it keep it.

    Example: `tenantctl plans archive pro`.
    """
    from tenantctl.plans.service import archive_plan

    async def work(session, _app):
        return (await archive_plan(session, name=plan, actor=actor())).name

    console.print(f"archived plan {run_tx(work)}", highlight=False)


@app.command()
def grant(
    plan: str = PLAN_ARG,
    feature: str = FEATURE_ARG,
    value: Optional[str] = typer.Option(None, "--value", help="For a mode feature: one of its allowed values."),
    off: bool = typer.Option(False, "--off", help="Deny the feature explicitly (even where the default is on)."),
    config: Optional[str] = typer.Option(None, "--config", help="Config override as a JSON object."),
    set_: list[str] = typer.Option([], "--set", help="Config override KEY=VALUE (repeatable)."),
    rollout: Optional[int] = typer.Option(None, "--rollout", min=0, max=100,
                                          help="Apply the grant to this percentage only (0-100); the rest keep the catalogue default."),
    rollout_by: str = typer.Option("tenant", "--rollout-by", help="Whom a rollout sticks to: tenant (bot) or user (OFREP targetingKey)."),
) -> None:
    """Grant a feature on a plan (with a mode value, a config override or a rollout); every tenant on it follows.

    Example: `tenantctl plans grant growth support_tickets --value both --rollout 25 --rollout-by user`.
    """
    from tenantctl.plans.service import set_grant

    overrides = parse_config_options(config, set_)

    async def work(session, _app):
        return await set_grant(session, plan=plan, feature=feature, actor=actor(), enabled=not off, value=value, config=overrides,
                               rollout_percent=rollout, rollout_by=rollout_by)

    result = run_tx(work)
    state = result.value or ("on" if result.enabled else "off")
    share = f" for {result.rollout_percent}% by {result.rollout_by}" if result.rollout_percent is not None else ""
    console.print(f"{plan}: {feature} {state}{share}" + (f" with config {json.dumps(result.config_override, ensure_ascii=False)}" if result.config_override else ""), highlight=False)


@app.command()
def revoke(plan: str = PLAN_ARG, feature: str = FEATURE_ARG) -> None:
    """Remove a grant: the feature falls back to the catalogue default on that plan.

    Example: `tenantctl plans revoke growth yookassa`.
    """
    from tenantctl.plans.service import revoke_grant

    async def work(session, _app):
        await revoke_grant(session, plan=plan, feature=feature, actor=actor())

    run_tx(work)
    console.print(f"{plan}: {feature} revoked (catalogue default applies)", highlight=False)


@app.command()
def grants(plan: Optional[str] = typer.Argument(None, help="One plan (default: every plan)."), as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """The features-by-plans matrix.

    Example: `tenantctl plans grants growth`.
    """
    from rich.table import Table

    from tenantctl.plans.service import grants_matrix

    async def work(session, _app):
        return await grants_matrix(session, plan=plan)

    matrix = run_tx(work)
    if as_json:
        print_json(matrix)
        return
    table = Table(title="features by plan (· = catalogue default)")
    table.add_column("category")
    table.add_column("feature")
    for name in matrix["plans"]:
        table.add_column(name, justify="center")
    for row in matrix["features"]:
        cells = []
        for name in matrix["plans"]:
            cell = row["grants"][name]
            if cell is None:
                cells.append(line(("·", "dim")))
            elif cell.get("implicit"):
                cells.append(line(("all", "green")))
            else:
                mark = cell["value"] or (line(("✓", "green")) if cell["enabled"] else line(("✗", "red")))
                share = f" {cell['rollout_percent']}%" if cell.get("rollout_percent") is not None else ""
                cells.append(mark + ("*" if cell["config"] else "") + share)
        table.add_row(row["category"], line(row["key"], ("" if row["present"] else " (absent)", "red")), *cells)
    console.print(table)
