"""`tenantctl cards`: the payment cards card-to-card payers see; the master's (activation fees) unless --bot names a tenant."""

from __future__ import annotations

from typing import Optional

import typer

from tenantctl.cli.common import actor, console, print_json, run_tx

app = typer.Typer(help="Payment cards for card-to-card payments: the master's (activation fees), or a tenant's with --bot.",
                  no_args_is_help=True)

BOT_OPTION = typer.Option(None, "--bot", help="A tenant bot (id, @username or name); default: the master bot.")


async def _bot(session, ref: Optional[str]):
    from tenantctl.core.errors import ConfigError
    from tenantctl.tenants.lookup import get_master, resolve_bot

    if ref is not None:
        return await resolve_bot(session, ref)
    master = await get_master(session)
    if master is None:
        raise ConfigError("no master bot in the database: run `tenantctl master init` first")
    return master


def _show(card: dict) -> str:
    state = "active" if card["active"] else "disabled"
    return (f"{card['id']:>4}  {card['number']}  {card['holder']}" + (f", {card['bank']}" if card["bank"] else "")
            + f"  ({state}, weight {card['weight']}, {card['usage_count']} payment(s))")


@app.command("list")
def list_(bot: Optional[str] = BOT_OPTION, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """The cards, masked, with their state and completed payments, and the rotation.

    Example: `tenantctl cards list --json`.
    """
    from tenantctl.customers.cards import card_as_dict, list_cards

    async def work(session, _app):
        owner = await _bot(session, bot)
        return owner.card_rotation, [card_as_dict(card) for card in await list_cards(session, bot_id=owner.id)]

    rotation, cards = run_tx(work)
    if as_json:
        print_json({"rotation": rotation, "cards": cards})
        return
    for card in cards:
        console.print(_show(card), highlight=False)
    hint = "no cards yet: `tenantctl cards add NUMBER --holder NAME" + (" --bot BOT`" if bot else "`")
    console.print(f"{len(cards)} card(s); rotation: {rotation}" if cards else hint, highlight=False)


@app.command()
def add(
    number: str = typer.Argument(..., help="The card number (spaces and dashes allowed; Luhn-checked)."),
    holder: str = typer.Option(..., "--holder", help="The name on the card, as payers should see it."),
    bank: Optional[str] = typer.Option(None, "--bank", help="The bank's name."),
    weight: int = typer.Option(1, "--weight", min=1, help="Its share under the weighted rotation."),
    bot: Optional[str] = BOT_OPTION,
) -> None:
    """Add a card; payers may see it at once.

    Example: `tenantctl cards add "6037 9911 2233 4455" --holder "Ivan Petrov" --bank Melli`.
    """
    from tenantctl.customers.cards import add_card, masked

    async def work(session, _app):
        owner = await _bot(session, bot)
        card = await add_card(session, bot_id=owner.id, number=number, holder=holder, bank=bank, weight=weight, actor=actor())
        return card.id, masked(card.card_number)

    card_id, shown = run_tx(work)
    console.print(f"added card {card_id}: {shown}", highlight=False)


def _set_active(card_id: int, bot: Optional[str], active: bool) -> None:
    from tenantctl.customers.cards import masked, set_card_active

    async def work(session, _app):
        owner = await _bot(session, bot)
        return masked((await set_card_active(session, bot_id=owner.id, card_id=card_id, active=active, actor=actor())).card_number)

    console.print(f"card {card_id} ({run_tx(work)}) {'enabled' if active else 'disabled'}", highlight=False)


@app.command()
def disable(card_id: int = typer.Argument(..., help="The card's id (`cards list`)."), bot: Optional[str] = BOT_OPTION) -> None:
    """Stop showing a card to new payers. Example: `tenantctl cards disable 3`."""
    _set_active(card_id, bot, False)


@app.command()
def enable(card_id: int = typer.Argument(..., help="The card's id (`cards list`)."), bot: Optional[str] = BOT_OPTION) -> None:
    """Show a disabled card again. Example: `tenantctl cards enable 3`."""
    _set_active(card_id, bot, True)


@app.command()
def remove(card_id: int = typer.Argument(..., help="The card's id (`cards list`)."), bot: Optional[str] = BOT_OPTION) -> None:
    """Remove a card; payments already made to it keep their record. Example: `tenantctl cards remove 3`."""
    from tenantctl.customers.cards import masked, remove_card

    async def work(session, _app):
        owner = await _bot(session, bot)
        return masked((await remove_card(session, bot_id=owner.id, card_id=card_id, actor=actor())).card_number)

    console.print(f"removed card {card_id} ({run_tx(work)})", highlight=False)


@app.command()
def rotation(
    strategy: str = typer.Argument(..., help="round_robin (the least used card), random, or weighted (random by --weight)."),
    bot: Optional[str] = BOT_OPTION,
) -> None:
    """Choose how the card a payer sees is picked. Example: `tenantctl cards rotation weighted`."""
    from tenantctl.customers.cards import set_rotation

    async def work(session, _app):
        await set_rotation(session, bot=await _bot(session, bot), strategy=strategy, actor=actor())

    run_tx(work)
    console.print(f"rotation: {strategy}", highlight=False)
