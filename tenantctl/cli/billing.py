"""`tenantctl billing`: the lifecycle tick (cron-safe), manual renewal payments, and the Stars inbox: reconcile, refunds, verify."""

from __future__ import annotations

from typing import Optional

import typer

from tenantctl.cli.common import actor, console, fail, print_json, run_app, run_tx, working

app = typer.Typer(help="Platform billing: the lifecycle tick, renewal payments, reconciliation with Telegram, refunds.",
                  no_args_is_help=True)


@app.command()
def tick(as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
         min_age: int = typer.Option(0, "--min-age", min=0, help="Leave Stars charges, and payments a bot recorded, younger than this "
                                                                       "many seconds to a running `bot run`, which may be recording or "
                                                                       "settling them now (e.g. 120).")) -> None:
    """Expire lapsed subscriptions (after GRACE_PERIOD_DAYS), record renewals due (RENEWAL_NOTICE_DAYS ahead), expire overrides;
    expire end users' lapsed subscriptions and, with a Remnawave panel configured (REMNAWAVE_API_URL and REMNAWAVE_API_KEY, in the
    master's configuration or the environment), carry out the panel jobs due and pull the users' traffic;
    then reconcile the master bot's Stars with Telegram (when MASTER_BOT_TOKEN is set).

    Example: `tenantctl billing tick --min-age 120` (from cron every 5 minutes).
    """
    from tenantctl.billing.service import billing_tick
    from tenantctl.core.db import run_in_transaction, utcnow
    from tenantctl.core.errors import ConfigError
    from tenantctl.core.money import format_money
    from tenantctl.tenants.telegram import BotApiError

    async def work(app_):
        settings = app_.settings
        report = await run_in_transaction(app_.sessions, lambda session: billing_tick(
            session, now=utcnow(), grace_days=settings.grace_period_days, notice_days=settings.renewal_notice_days, actor=actor()))
        if report.skipped:
            return report, None, None, None, []
        end_users = await _end_users(app_)
        try:
            return report, await _reconcile(app_, min_age), None, None, end_users
        except ConfigError as exc:
            return report, None, f"reconcile skipped: {exc}", None, end_users
        except BotApiError as exc:  # the tick's work is done and committed: report it, then the failure
            return report, None, None, f"reconcile failed: {exc}", end_users

    report, reconciled, skipped, failed, end_users = run_app(work)
    if as_json:
        print_json(report.as_dict() | {"reconcile": reconciled.as_dict() if reconciled else None,
                                       "reconcile_skipped": skipped, "reconcile_failed": failed, "end_users": end_users})
    elif report.skipped:
        console.print(report.skipped, highlight=False)
    else:
        for e in report.expired:
            console.print(f"expired: {e['name']} (ended {e['end_date'][:10]}): bot stopped (status expired), features off", highlight=False)
        for r in report.renewals:
            console.print(f"renewal due: {r['name']} {format_money(r['amount'])} ({r['plan']}) by {r['due_at'][:10]}", highlight=False)
        for o in report.overrides_expired:
            console.print(f"override expired: bot {o['bot_id']} {o['feature']}", highlight=False)
        console.print(f"tick done: {len(report.expired)} expired, {len(report.renewals)} renewals recorded, "
                      f"{len(report.overrides_expired)} overrides expired", highlight=False)
        for line in end_users:
            console.print(line, highlight=False, soft_wrap=True)
        if reconciled is not None:
            _print_reconciliation(reconciled)
        elif skipped:
            console.print(skipped, highlight=False)
    if failed:
        fail(failed)


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


async def _end_users(app_) -> list[str]:
    """Tenants' end users: expire their lapsed subscriptions; with a panel configured, carry out its jobs and pull traffic."""
    import os

    from tenantctl.core.db import utcnow
    from tenantctl.core.errors import ConfigError
    from tenantctl.customers.panel import PanelError
    from tenantctl.customers.provisioning import expire_subscriptions, open_panel, panel_backlog, pull_traffic, run_panel_jobs
    from tenantctl.flags.keys import PANEL_URL_KEY

    now = utcnow()
    async with app_.unit_of_work() as session:
        lines = [f"end users: {await expire_subscriptions(session, now=now)} subscription(s) expired"]
        try:
            panel = await open_panel(session, env=os.environ, box=app_.secret_box)
        except ConfigError as exc:
            panel, lines = None, lines + [f"panel skipped: {exc}"]
    if panel is None:
        async with app_.unit_of_work() as session:
            pending, _ = await panel_backlog(session)
        return lines if len(lines) > 1 else lines + [f"panel not configured ({PANEL_URL_KEY}): {pending} panel job(s) waiting"]
    async with panel:
        provisioned = await run_panel_jobs(app_.sessions, panel=panel, now=now)
        async with app_.unit_of_work() as session:
            pending, error = await panel_backlog(session)
        lines.append(f"panel: {len(provisioned)} subscription link(s) ready for the bots to send, {pending} job(s) pending"
                     + (f" (last error: {error})" if pending and error else ""))
        try:
            lines.append(f"traffic: {await pull_traffic(app_.sessions, panel=panel, now=now)} user(s) read from the panel")
        except PanelError as exc:
            lines.append(f"traffic not read: {exc}")
    return lines


# ----- the payment inbox: reconciliation with Telegram, refunds, the money invariants ---------------


async def _reconcile(app_, min_age: int):
    """Reconcile the master bot's Star ledger with the inbox; ConfigError without the master bot's token in MASTER_BOT_TOKEN."""
    from datetime import timedelta

    from tenantctl.onboarding.payments import reconcile
    from tenantctl.tenants.lookup import master_for_token
    from tenantctl.tenants.telegram import StarsAccount

    token = app_.settings.master_bot_token
    async with app_.unit_of_work() as session:
        await master_for_token(session, token)
    return await reconcile(app_.sessions, ledger=StarsAccount(app_.settings.telegram_api_server, token), box=app_.secret_box,
                           settings=app_.settings, actor=actor(), min_age=timedelta(seconds=min_age))


def _print_reconciliation(reconciled) -> None:
    for item in reconciled.fixes:
        console.print(f"{item['action']}: {item['charge_id']}: {item['detail']}", highlight=False, soft_wrap=True)
    console.print(f"reconcile done: {reconciled.transactions} Star transactions read, {len(reconciled.fixes)} action(s)", highlight=False)


@app.command("reconcile")
def reconcile_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
               min_age: int = typer.Option(0, "--min-age", min=0, help="Leave Stars charges, and payments a bot recorded, younger than this "
                                                                       "many seconds to a running `bot run`, which may be recording or "
                                                                       "settling them now (e.g. 120).")) -> None:
    """Compare the master bot's Star transactions (every page of getStarTransactions) with the payment inbox: record charges never
    received, apply or refund every open payment, make the refunds due, confirm refunds Telegram made. Prints each fix.

    Example: `tenantctl billing reconcile --json`.
    """
    with working("reading the Star transactions and settling open payments"):
        reconciled = run_app(lambda app_: _reconcile(app_, min_age))
    if as_json:
        print_json(reconciled.as_dict())
    else:
        _print_reconciliation(reconciled)


@app.command("refunds")
def refunds(
    status: Optional[str] = typer.Option(None, "--status", help="Only refunds in this status: pending, done or failed."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the refunds: Stars go back through Telegram (retried with backoff), card payments by hand.

    Example: `tenantctl billing refunds --status pending`.
    """
    from tenantctl.billing.models import REFUND_STATUSES
    from tenantctl.billing.refunds import list_refunds
    from tenantctl.billing.schemas import refund_as_dict
    from tenantctl.core.money import format_money

    if status is not None and status not in REFUND_STATUSES:
        fail(f"--status must be one of {', '.join(REFUND_STATUSES)}", code=2)
    rows = [refund_as_dict(r) for r in run_tx(lambda session, _app: list_refunds(session, status=status))]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        when = f"done {r['done_at'][:19]}" if r["done_at"] else (f"next attempt {r['next_attempt_at'][:19]}" if r["next_attempt_at"]
                                                              else "to pay back by hand" if r["status"] == "pending" else "given up")
        error = f", last error: {r['last_error']}" if r["last_error"] else ""
        console.print(f"refund {r['id']} {r['status']}: {format_money(r['amount'], r['currency'])} to user {r['payer_telegram_id']} "
                      f"(charge {r['charge_id']}) for {r['reason']}; {r['attempts']} attempt(s), {when}{error}", highlight=False,
                      soft_wrap=True)
    console.print(f"{len(rows)} refund(s)", highlight=False)


@app.command("verify")
def verify(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Check the money invariants: every succeeded payment has its effect, none counted twice, every refund recorded, activation
    payments add up to the fees of the tenants they activated. Exits 1 on any discrepancy.

    Example: `tenantctl billing verify --json`.
    """
    from tenantctl.stats.money import verify_money

    issues = run_tx(lambda session, app_: verify_money(session, stars_rate_kopeks=app_.settings.stars_rate_kopeks))
    if as_json:
        print_json({"discrepancies": issues})
    else:
        for issue in issues:
            console.print(f"{issue['check']}: {issue['detail']}", highlight=False, soft_wrap=True)
        console.print(f"{len(issues)} discrepancies", highlight=False)
    if issues:
        raise typer.Exit(1)
