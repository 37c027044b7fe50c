"""`tenantctl billing`: the lifecycle tick (cron-safe) and manual renewal payments."""

from __future__ import annotations

from typing import Optional

import typer

from tenantctl.cli.common import actor, console, print_json, run_tx

app = typer.Typer(help="Platform billing: the lifecycle tick and renewal payments.", no_args_is_help=True)


@app.command()
def tick(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Expire lapsed subscriptions (after GRACE_PERIOD_DAYS), record renewals due (RENEWAL_NOTICE_DAYS ahead), expire overrides."""
    from tenantctl.billing.service import billing_tick
    from tenantctl.core.db import utcnow
    from tenantctl.core.money import format_money

    async def work(session, app_):
        settings = app_.settings
        return await billing_tick(session, now=utcnow(), grace_days=settings.grace_period_days,
                                  notice_days=settings.renewal_notice_days, actor=actor())

    report = run_tx(work)
    if as_json:
        print_json(report.as_dict())
        return
    if report.skipped:
        console.print(report.skipped, highlight=False)
        return
    for e in report.expired:
        console.print(f"expired: {e['name']} (ended {e['end_date'][:10]}): bot stopped (status expired), features off", highlight=False)
    for r in report.renewals:
        console.print(f"renewal due: {r['name']} {format_money(r['amount'])} ({r['plan']}) by {r['due_at'][:10]}", highlight=False)
    for o in report.overrides_expired:
        console.print(f"override expired: bot {o['bot_id']} {o['feature']}", highlight=False)
    console.print(f"tick done: {len(report.expired)} expired, {len(report.renewals)} renewals recorded, "
                  f"{len(report.overrides_expired)} overrides expired", highlight=False)


@app.command("record-payment")
def record_payment(
    bot: str = typer.Argument(..., help="Bot id, @username or name."),
    amount: Optional[str] = typer.Option(None, "--amount", help="Rubles, whole months at the plan's price: 5000, 10000.00 or 5000 RUB."),
    months: Optional[int] = typer.Option(None, "--months", min=1, help="A manual deal: months to add whatever the amount (with --reason)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why the deal differs from the price, e.g. 'launch discount' (audited)."),
    method: str = typer.Option("manual", "--method", help="manual, card_to_card, telegram_stars or waived."),
    reference: str = typer.Option(..., "--reference", help="The payment's reference; a repeat is recognised and ignored."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Record a renewal payment: N x the plan's monthly price buys N months, features restored. Idempotent on (method, reference).

    Examples: `--amount 10000 --reference BANK-42` on a 5 000 RUB plan buys 2 months;
    `--months 3 --amount 0 --reason 'launch deal' --reference DEAL-1` records a manual deal.
    """
    from tenantctl.billing import service
    from tenantctl.billing.schemas import payment_as_dict
    from tenantctl.cli.common import fail, or_fail
    from tenantctl.core.money import format_money, parse_rubles
    from tenantctl.tenants.lookup import resolve_bot

    if amount is None and months is None:
        fail("give --amount, or --months N --reason TEXT for a manual deal", code=2)
    kopeks = 0 if amount is None else or_fail(lambda: parse_rubles(amount))

    async def work(session, _app):
        found = await resolve_bot(session, bot)
        result = await service.record_payment(session, bot_id=found.id, amount_kopeks=kopeks, method=method,
                                              reference=reference, actor=actor(), months=months, reason=reason)
        return found, result

    found, result = run_tx(work)
    payment = payment_as_dict(result.payment)
    end = result.subscription.end_date.date().isoformat()
    if as_json:
        print_json({"extended": result.extended, "months": result.months, "payment": payment,
                    "end_date": result.subscription.end_date.isoformat(),
                    "subscription_status": result.subscription.status, "bot_status": found.status})
        return
    if not result.extended:
        console.print(f"payment {method}/{reference} was recorded already ({format_money(result.payment.amount_minor)}): "
                      f"nothing changed; {found.name} runs until {end}", highlight=False)
        return
    deal = f", a deal: {reason}" if reason else ""
    console.print(f"recorded {format_money(kopeks)} ({method}/{reference}) for {found.name}: {result.months} month(s){deal}, "
                  f"paid until {end}, status {found.status}", highlight=False)
