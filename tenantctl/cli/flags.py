"""`tenantctl flags`: extract the feature catalogue from `.env.example`, store and inspect it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from tenantctl.cli.common import console, err_console, fail, line, or_fail, print_json, run_tx, working

if TYPE_CHECKING:
    from rich.text import Text

app = typer.Typer(help="The feature catalogue extracted from the operator's .env.example.", no_args_is_help=True)

PATH_HELP = "The .env.example to read (default: ENV_EXAMPLE_PATH, then ./.env.example)."


def _extract(path: Optional[str], strict: bool):
    """Extract a catalogue, printing warnings; --strict makes any warning an error."""
    from tenantctl.core.settings import Settings
    from tenantctl.flags.catalogue import extract_feature_flags_from_env
    from tenantctl.flags.service import env_example_path

    source = or_fail(lambda: env_example_path(path, Settings.load().env_example_path))
    with working(f"reading {source}"):
        catalogue = or_fail(lambda: extract_feature_flags_from_env(source))
    for warning in catalogue.warnings:
        err_console.print(line(("warning:", "yellow"), f" {source}:{warning.line}: {warning.message}"), highlight=False)
    if strict and catalogue.warnings:
        fail(f"{len(catalogue.warnings)} warning(s) in {source} and --strict was given")
    return source, catalogue


def _value_text(kind: str, enabled: bool, value: Optional[str]) -> "str | Text":
    if kind == "mode":
        return f"{value or '-'}" + ("" if enabled else " (off)")
    return line(("on", "green")) if enabled else line(("off", "dim"))


@app.command()
def extract(
    path: Optional[str] = typer.Argument(None, help=PATH_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the catalogue as JSON (shape in the README)."),
    strict: bool = typer.Option(False, "--strict", help="Exit non-zero if the file has any warning."),
) -> None:
    """Parse .env.example into features, grouped by category. Touches no database.

    Example: `tenantctl flags extract /srv/bot/.env.example --json`.
    """
    from rich.table import Table

    source, catalogue = _extract(path, strict)
    if as_json:
        print_json(catalogue.as_dict())
        return
    table = Table(title=f"{len(catalogue.features)} features in {source}", show_lines=False)
    for name in ("category", "feature", "env key", "kind", "default", "config keys"):
        table.add_column(name)
    last = None
    for spec in sorted(catalogue.features, key=lambda s: (s.category, s.key)):
        table.add_row(
            spec.category if spec.category != last else "",
            line(spec.key, (" (master-only)" if spec.master_only else "", "yellow")),
            spec.env_key,
            spec.kind + (f" ({'|'.join(spec.allowed_values)})" if spec.allowed_values else ""),
            _value_text(spec.kind, spec.enabled, spec.value),
            str(len(spec.config)) + (f", {len(spec.secret_keys)} secret" if spec.secret_keys else ""),
        )
        last = spec.category
    console.print(table)
    console.print(f"master-only keys (never cloned to tenants): {', '.join(catalogue.master_only) or 'none'}", highlight=False)


@app.command()
def sync(
    path: Optional[str] = typer.Argument(None, help=PATH_HELP),
    strict: bool = typer.Option(False, "--strict", help="Refuse to sync a file with warnings."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask when the file would mark more than half of the catalogue absent."),
) -> None:
    """Store the extracted catalogue: idempotent; features gone from the file are marked absent, never deleted.

    Example: `tenantctl flags sync /srv/bot/.env.example`.
    """
    from tenantctl.cli.common import actor
    from tenantctl.flags.service import absent_after_sync
    from tenantctl.plans.effective import sync_catalogue

    source, catalogue = _extract(path, strict)
    absent, present = run_tx(lambda session, _app: absent_after_sync(session, catalogue=catalogue))
    if absent * 2 > present and not yes and not typer.confirm(
            f"{source} would mark {absent} of the {present} features absent (their grants are kept). Is it the right file?"):
        fail("nothing changed")

    async def work(session, _app):
        return await sync_catalogue(session, catalogue=catalogue, actor=actor(), source=source)

    with working(f"storing {len(catalogue.features)} features and every tenant's flags"):
        report = run_tx(work)
    for key in report.added:
        console.print(line(("+ added", "green"), f"   {key}"), highlight=False)
    for key, fields in report.changed.items():
        console.print(line(("~ changed", "yellow"), f" {key}: {', '.join(fields)}"), highlight=False)
    for key in report.returned:
        console.print(line(("+ back", "green"), f"    {key}"), highlight=False)
    for key in report.absent:
        console.print(line(("- absent", "red"), f"  {key} (kept, with its grants)"), highlight=False)
    console.print(
        f"{source}: {len(report.added)} added, {len(report.changed)} changed, {len(report.absent)} absent, "
        f"{report.unchanged} unchanged",
        highlight=False,
    )


@app.command("list")
def list_(
    category: Optional[str] = typer.Option(None, help="Only this category."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The catalogue stored in the database.

    Example: `tenantctl flags list --category payment_gateways`.
    """
    from rich.table import Table

    from tenantctl.flags.schemas import feature_as_dict
    from tenantctl.flags.service import list_features

    async def work(session, _app):
        return [feature_as_dict(f) for f in await list_features(session, category=category)]

    features = run_tx(work)
    if as_json:
        print_json(features)
        return
    if not features:
        console.print("the catalogue is empty: run `tenantctl flags sync`")
        return
    table = Table(title=f"{len(features)} features")
    for name in ("category", "feature", "env key", "kind", "default", "present"):
        table.add_column(name)
    for f in features:
        table.add_row(f["category"], line(f["key"], (" (master-only)" if f["master_only"] else "", "yellow")), f["env_key"], f["kind"],
                      _value_text(f["kind"], f["default_enabled"], f["default_value"]),
                      "yes" if f["is_present"] else line(("absent", "red")))
    console.print(table)


@app.command()
def show(key: str = typer.Argument(..., help="Feature key, e.g. yookassa."), as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """One stored feature: its defaults, config template and secret keys.

    Example: `tenantctl flags show yookassa`.
    """
    from tenantctl.flags.schemas import feature_as_dict
    from tenantctl.flags.service import get_feature

    async def work(session, _app):
        return feature_as_dict(await get_feature(session, key))

    feature = run_tx(work)
    if as_json:
        print_json(feature)
        return
    console.print(line((feature["key"], "bold"), f" ({feature['kind']}, {feature['category']}) from {feature['env_key']}"
                       + (f", aliases {', '.join(feature['env_aliases'])}" if feature["env_aliases"] else "")), highlight=False)
    if feature["description"]:
        console.print(feature["description"], highlight=False)
    console.print(f"default: {_value_text(feature['kind'], feature['default_enabled'], feature['default_value'])}"
                  + (f"; allowed: {', '.join(feature['allowed_values'])}" if feature["allowed_values"] else ""), highlight=False)
    if feature["master_only"]:
        console.print(line(("master-only", "yellow"), ": the operator's own switch; no plan grants it and no override sets it for a tenant"))
    if not feature["is_present"]:
        console.print(line(("absent from the last synced .env.example", "red")))
    for config_key, value in feature["default_config"].items():
        secret = " (secret)" if config_key in feature["secret_keys"] else ""
        console.print(line(f"  {config_key} = {value!r}", (secret, "red")), highlight=False)


@app.command()
def usage(
    bot: Optional[str] = typer.Option(None, "--bot", help="Only this bot: id, @username or name."),
    since: Optional[str] = typer.Option(None, "--since", help="Only days from this date on (YYYY-MM-DD, UTC)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """How often each bot's features were evaluated (by the bots' gate and the OFREP API), per result.

    Example: `tenantctl flags usage --bot @sever_vpn_bot --since 2026-01-01`.
    """
    from datetime import date

    from rich.table import Table

    from tenantctl.flags.usage import usage_totals
    from tenantctl.tenants.lookup import resolve_bot

    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        fail(f"--since {since!r} is not a date (YYYY-MM-DD)")

    async def work(session, _app):
        bot_id = (await resolve_bot(session, bot)).id if bot else None
        return await usage_totals(session, bot_id=bot_id, since=day)

    rows = run_tx(work)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no evaluations counted" + (f" since {day}" if day else ""), highlight=False)
        return
    table = Table(title="flag evaluations" + (f" since {day}" if day else ""))
    for name in ("bot", "feature", "result", "count", "days"):
        table.add_column(name, justify="right" if name == "count" else "left")
    for row in rows:
        days = row["first_day"] if row["first_day"] == row["last_day"] else f"{row['first_day']} – {row['last_day']}"
        table.add_row(str(row["bot_id"]), row["feature_key"], row["result"], f"{row['count']:,}", days)
    console.print(table)
