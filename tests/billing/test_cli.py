"""`tenantctl billing record-payment` through the real Typer app: whole months at the plan's price, or an explicit deal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.tenants.test_cli import create, invoke, ok, platform, refused  # noqa: F401 (platform is a fixture)


def end_date() -> str:
    return json.loads(ok("tenant", "show", "Shop 1", "--json").stdout)["end_date"][:10]


def test_record_payment_buys_whole_months_or_records_a_deal(cli_env, platform) -> None:  # noqa: F811
    assert create(1).exit_code == 0  # starter: 5 000.00 RUB a month
    start = end_date()
    refused("billing", "record-payment", "Shop 1", "--amount", "1", "--reference", "R1",
            message="1.00 RUB is not a whole number of months at 5 000.00 RUB a month")
    refused("billing", "record-payment", "Shop 1", "--amount", "7500", "--reference", "R1",
            message="7 500.00 RUB is not a whole number of months at 5 000.00 RUB a month")
    assert end_date() == start

    two = ok("billing", "record-payment", "Shop 1", "--amount", "10000", "--reference", "R2").output
    assert "recorded 10 000.00 RUB (manual/R2) for Shop 1: 2 month(s)" in two
    deal = json.loads(ok("billing", "record-payment", "Shop 1", "--months", "3", "--reason", "launch partner",
                         "--reference", "DEAL-1", "--json").stdout)
    assert (deal["months"], deal["payment"]["amount"], deal["bot_status"]) == (3, 0, "active")
    assert deal["end_date"][:10] == end_date() > start

    refused("billing", "record-payment", "Shop 1", "--months", "3", "--reference", "R3",
            message="a manual deal needs both a number of months and a reason")
    refused("billing", "record-payment", "Shop 1", "--amount", "5000", "--reason", "friend", "--reference", "R3",
            message="a manual deal needs both a number of months and a reason")
    refused("billing", "record-payment", "Shop 1", "--reference", "R3", code=2,
            message="give --amount, or --months N --reason TEXT")
    assert invoke("billing", "record-payment", "Shop 1", "--months", "0", "--reason", "x", "--reference", "R3").exit_code == 2


def test_billing_writes_payments_in_a_process_of_its_own(cli_env, platform) -> None:  # noqa: F811
    """In-process tests have every models module loaded; a real command loads only what it imports."""
    assert create(1).exit_code == 0

    def tenantctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from tenantctl.cli.main import app; app()", *args],
                              env={**os.environ, **cli_env, "RENEWAL_NOTICE_DAYS": "70"}, capture_output=True, text=True, check=False)

    paid = tenantctl("billing", "record-payment", "Shop 1", "--amount", "5000", "--reference", "OWN-1")
    assert (paid.returncode, paid.stderr) == (0, "") and "for Shop 1" in paid.stdout
    tick = tenantctl("billing", "tick")  # two months left: a renewal is due 70 days ahead
    assert (tick.returncode, tick.stderr) == (0, "") and "renewal due: Shop 1" in tick.stdout
