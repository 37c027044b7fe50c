"""`tenantctl tenant plans | cards | gateway BOT ...`: what a tenant's admins manage, for the operator.

The same services as the bot's tenant dashboard: the tenant's own plans (`customers/bot_plans.py`), its
payment cards (`customers/cards.py`, through `cli/cards.py`) and its gateway settings (`tenants/gateway.py`).
BOT comes first and names the tenant; every id is looked up within it.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from tenantctl.cli import cards
from tenantctl.cli.common import actor, console, fail, line, or_fail, print_json, run_tx

BOT_ARG = typer.Argument(..., metavar="BOT", help="The tenant bot: id, @username or name.")
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output.")
PLAN_ID = typer.Argument(..., help="The plan's id (`tenant plans BOT list`).")
CARD_ID = typer.Argument(..., help="The card's id (`tenant cards BOT list`).")

plans_app = typer.Typer(help="A tenant's own VPN plans for its users: list, add, edit, archive.", no_args_is_help=True)
cards_app = typer.Typer(help="A tenant's payment cards for card-to-card payments: list, add, disable, enable, remove.",
                        no_args_is_help=True)
gateway_app = typer.Typer(help="A tenant's payment gateway settings: show, set (secrets never shown).", no_args_is_help=True)


def _remember_bot(ctx: typer.Context, bot: str = BOT_ARG) -> None:
    ctx.obj = bot


for sub_app in (plans_app, cards_app, gateway_app):
    sub_app.callback()(_remember_bot)


def _in_tenant(ctx: typer.Context, call):
    """Run `call(session, bot_row, app)` in one transaction on the tenant named by BOT."""
    from tenantctl.tenants.lookup import resolve_bot

    async def work(session, app_):
        return await call(session, await resolve_bot(session, ctx.obj), app_)

    return run_tx(work)


def _plan_line(plan: dict) -> str:
    traffic = "unlimited traffic" if plan["traffic_gb"] == 0 else f"{plan['traffic_gb']} GB"
    return (f"{plan['id']:>4}  {plan['name']}  {plan['price']}  {plan['period_days']} days  {traffic}  "
            f"{plan['device_limit']} device(s)" + ("" if plan["active"] else "  (archived)"))


@plans_app.command("list")
def plans_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """The tenant's plans, active first; archived plans are no longer offered but kept for the subscriptions sold on them.

    Example: `tenantctl tenant plans @sever_vpn_bot list --json`.
    """
    from tenantctl.customers.bot_plans import list_plans, plan_as_dict

    async def call(session, found, _app):
        return found.name, [plan_as_dict(plan) for plan in await list_plans(session, bot_id=found.id)]

    name, rows = _in_tenant(ctx, call)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(_plan_line(row), highlight=False)
    console.print(f"{len(rows)} plan(s) of {name}" if rows else f"{name} has no plans yet: `tenantctl tenant plans BOT add`",
                  highlight=False)


@plans_app.command("add")
def plans_add(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="The plan's name as users see it (1-100 characters, unique in the bot)."),
    period: str = typer.Option(..., "--period", help="Its period in days (1-3650)."),
    price: str = typer.Option(..., "--price", help="Its price in major units, up to 2 decimals (199 or 199.90)."),
    traffic: str = typer.Option("0", "--traffic", help="Traffic in GB (0-100000; 0 is unlimited)."),
    devices: str = typer.Option("1", "--devices", help="How many devices (1-100)."),
) -> None:
    """Add a plan the tenant offers at once. Persian and Arabic-Indic digits are read as digits.

    Example: `tenantctl tenant plans @sever_vpn_bot add --name "1 month" --period 30 --price 199.90 --traffic 50 --devices 2`.
    """
    from tenantctl.customers import bot_plans

    fields = or_fail(lambda: {"name": bot_plans.parse_name(name), "period_days": bot_plans.parse_period_days(period),
                              "price_kopeks": bot_plans.parse_price(price), "traffic_gb": bot_plans.parse_traffic_gb(traffic),
                              "device_limit": bot_plans.parse_device_limit(devices)})

    async def call(session, found, _app):
        return bot_plans.plan_as_dict(await bot_plans.create_plan(session, bot_id=found.id, actor=actor(), **fields))

    console.print("added plan " + _plan_line(_in_tenant(ctx, call)).strip(), highlight=False)


@plans_app.command("edit")
def plans_edit(
    ctx: typer.Context,
    plan_id: int = PLAN_ID,
    name: Optional[str] = typer.Option(None, "--name", help="A new name (1-100 characters, unique in the bot)."),
    period: Optional[str] = typer.Option(None, "--period", help="A new period in days (1-3650)."),
    price: Optional[str] = typer.Option(None, "--price", help="A new price in major units, up to 2 decimals."),
    traffic: Optional[str] = typer.Option(None, "--traffic", help="New traffic in GB (0-100000; 0 is unlimited)."),
    devices: Optional[str] = typer.Option(None, "--devices", help="A new device limit (1-100)."),
) -> None:
    """Change a plan's name, period, price or limits; subscriptions already sold keep theirs.

    Example: `tenantctl tenant plans @sever_vpn_bot edit 3 --price 179 --devices 3`.
    """
    from tenantctl.customers import bot_plans

    def parse(text: Optional[str], parser):
        return None if text is None else parser(text)

    fields = or_fail(lambda: {"name": parse(name, bot_plans.parse_name), "period_days": parse(period, bot_plans.parse_period_days),
                              "price_kopeks": parse(price, bot_plans.parse_price), "traffic_gb": parse(traffic, bot_plans.parse_traffic_gb),
                              "device_limit": parse(devices, bot_plans.parse_device_limit)})

    async def call(session, found, _app):
        return bot_plans.plan_as_dict(await bot_plans.edit_plan(session, bot_id=found.id, plan_id=plan_id, actor=actor(), **fields))

    console.print("plan " + _plan_line(_in_tenant(ctx, call)).strip(), highlight=False)


def _set_plan_active(ctx: typer.Context, plan_id: int, active: bool) -> None:
    from tenantctl.customers.bot_plans import set_plan_active

    async def call(session, found, _app):
        return (await set_plan_active(session, bot_id=found.id, plan_id=plan_id, active=active, actor=actor())).name

    console.print(f"plan {plan_id} ({_in_tenant(ctx, call)}) " + ("offered again" if active else "archived: no longer offered"),
                  highlight=False)


@plans_app.command("archive")
def plans_archive(ctx: typer.Context, plan_id: int = PLAN_ID) -> None:
    """Stop offering a plan; it stays for the subscriptions sold on it. Example: `tenantctl tenant plans @sever_vpn_bot archive 3`."""
    _set_plan_active(ctx, plan_id, False)


@plans_app.command("unarchive")
def plans_unarchive(ctx: typer.Context, plan_id: int = PLAN_ID) -> None:
    """Offer an archived plan again. Example: `tenantctl tenant plans @sever_vpn_bot unarchive 3`."""
    _set_plan_active(ctx, plan_id, True)


@cards_app.command("list")
def cards_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """The tenant's cards, masked, with their state and completed payments, and the rotation.

    Example: `tenantctl tenant cards @sever_vpn_bot list --json`.
    """
    cards.list_(bot=ctx.obj, as_json=as_json)


@cards_app.command("add")
def cards_add(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="The card number (spaces and dashes allowed; Luhn-checked)."),
    holder: str = typer.Option(..., "--holder", help="The name on the card, as payers should see it."),
    bank: Optional[str] = typer.Option(None, "--bank", help="The bank's name."),
    weight: int = typer.Option(1, "--weight", min=1, help="Its share under the weighted rotation."),
) -> None:
    """Add a card to the tenant's rotation; its payers may see it at once.

    Example: `tenantctl tenant cards @sever_vpn_bot add "6037 9911 2233 4455" --holder "Ali Rezaei" --bank Melli`.
    """
    cards.add(number=number, holder=holder, bank=bank, weight=weight, bot=ctx.obj)


@cards_app.command("disable")
def cards_disable(ctx: typer.Context, card_id: int = CARD_ID) -> None:
    """Stop showing a card to new payers. Example: `tenantctl tenant cards @sever_vpn_bot disable 3`."""
    cards.disable(card_id=card_id, bot=ctx.obj)


@cards_app.command("enable")
def cards_enable(ctx: typer.Context, card_id: int = CARD_ID) -> None:
    """Show a disabled card again. Example: `tenantctl tenant cards @sever_vpn_bot enable 3`."""
    cards.enable(card_id=card_id, bot=ctx.obj)


@cards_app.command("remove")
def cards_remove(ctx: typer.Context, card_id: int = CARD_ID) -> None:
    """Remove a card; payments already made to it keep their record. Example: `tenantctl tenant cards @sever_vpn_bot remove 3`."""
    cards.remove(card_id=card_id, bot=ctx.obj)


def _setting_text(setting: dict) -> str:
    if setting["secret"]:
        return f"  {setting['key']}: {'set' if setting['set'] else 'unset'} (secret)"
    value = "(not set)" if setting["value"] is None else setting["value"]
    return f"  {setting['key']} = {value}  ({setting['source']})"


@gateway_app.command("show")
def gateway_show(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """The payment gateways on for the tenant and their settings; a secret only as set or unset.

    Example: `tenantctl tenant gateway @sever_vpn_bot show --json`.
    """
    from tenantctl.tenants.gateway import gateway_settings

    async def call(session, found, _app):
        return found.name, await gateway_settings(session, bot_id=found.id)

    name, gateways = _in_tenant(ctx, call)
    if as_json:
        print_json(gateways)
        return
    if not gateways:
        console.print(f"{name} has no payment gateway on (its plan or `tenantctl tenant override` turns one on)", highlight=False)
    for gateway in gateways:
        console.print(line((gateway["feature"], "bold"), f" ({gateway['category']})"), highlight=False)
        for setting in gateway["settings"]:
            console.print(_setting_text(setting), highlight=False, soft_wrap=True)
        if not gateway["settings"]:
            console.print("  (no settings)", highlight=False)


@gateway_app.command("set")
def gateway_set(
    ctx: typer.Context,
    feature: str = typer.Argument(..., help="The gateway's feature key, e.g. yookassa (`tenant gateway BOT show`)."),
    assignment: str = typer.Argument(..., help="KEY=VALUE; an empty VALUE unsets the key, KEY=- reads the value from stdin."),
) -> None:
    """Set one setting of a gateway that is on for the tenant; a secret is stored encrypted and never shown.

    Example: `tenantctl tenant gateway @sever_vpn_bot set yookassa YOOKASSA_SECRET_KEY=-` (the secret on stdin).
    """
    from tenantctl.tenants.gateway import set_gateway_value

    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        fail("give the setting as KEY=VALUE (KEY=- reads the value from stdin)")
    if value == "-":
        value = sys.stdin.readline().rstrip("\n")

    async def call(session, found, app_):
        return await set_gateway_value(session, bot_id=found.id, feature=feature, key=key, value=value, box=app_.secret_box,
                                       actor=actor())

    setting = _in_tenant(ctx, call)
    if setting["secret"]:
        console.print(f"{setting['key']}: {'set (stored encrypted)' if setting['set'] else 'unset'}", highlight=False)
    else:
        console.print(_setting_text(setting).strip(), highlight=False)
