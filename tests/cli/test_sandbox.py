"""`tenantctl sandbox`: a scripted session on stdin against the real runner, the demo and the fake Bot API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tenantctl.cli.main import app

SESSION = """\
/start
/register_tenant
My Sandbox VPN
:newbot
:press English
1
:press Starter
:press Stars
:press Confirm
:pay
:bots
:bot @nimbus_vpn_bot
:user 5550003
/start
:users
:user 1000
:bot 1
/admin
1
:quit
this line is never read
"""


def _after(output: str, typed: str) -> str:
    """What the sandbox printed between the input `typed` and the next one."""
    return output.split(f"you> {typed}\n", 1)[1].split("you> ", 1)[0]


def test_a_scripted_session_registers_a_tenant_pays_and_visits_a_tenant_bot_and_the_admin_panel(
        tmp_path: Path, _data_home: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "from tenantctl.cli.main import main; main()", "sandbox"], input=SESSION,
                          capture_output=True, text=True, timeout=90, cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "you are user 2001 (a new user), talking to @demo_master_vpn_bot" in out
    assert ":pay, :photo, :bots" in out  # the help line
    assert "Send /register_tenant" in _after(out, "/start")
    assert re.search(r"bot #\d+: Step 1/7.*\n    \[1\] Cancel\n", _after(out, "/register_tenant"))
    assert "Step 2/7" in _after(out, "My Sandbox VPN")
    token_step = _after(out, ":newbot")
    assert "a new bot on the fake Bot API: @sandbox_1_vpn_bot" in token_step and "Step 3/7" in token_step
    assert "(you pressed [3] English on #" in _after(out, ":press English")
    skipped = _after(out, "1")  # a bare number presses that button of the bot's last message
    assert "(you pressed [1] Skip on #" in skipped and "Step 5/7" in skipped
    assert "Step 6/7" in _after(out, ":press Starter")
    assert "Step 7/7" in _after(out, ":press Stars")
    invoice = _after(out, ":press Confirm")
    assert "[invoice]: Bot activation" in invoice and "667 XTR  (:pay pays it)" in invoice
    paid = _after(out, ":pay")
    assert "(you pay 667 XTR for #" in paid
    assert "My Sandbox VPN (@sandbox_1_vpn_bot) is registered and already running" in paid
    bots = _after(out, ":bots")
    assert "1. @demo_master_vpn_bot  Demo Master VPN  (master, active)  <- you are here" in bots
    assert "5. @sandbox_1_vpn_bot  My Sandbox VPN  (tenant, active)" in bots
    assert "now talking to @nimbus_vpn_bot (Nimbus VPN)" in _after(out, ":bot @nimbus_vpn_bot")
    assert "you are user 5550003 now: owner of Nimbus VPN (@nimbus_vpn_bot)" in _after(out, ":user 5550003")
    assert "Welcome to Nimbus VPN!" in out.split("you> :user 5550003\n", 1)[1].split("you> :users", 1)[0]
    users = _after(out, ":users")
    assert "1000       master admin (MASTER_ADMIN_IDS)" in users
    assert "2001       owner of My Sandbox VPN (@sandbox_1_vpn_bot)" in users  # the new user who registered
    assert "5550003    owner of Nimbus VPN (@nimbus_vpn_bot)  <- you" in users
    assert "Master admin panel" in _after(out, "/admin")
    tenants = out.split("you> /admin\n", 1)[1]
    assert "(you pressed [1] Tenants on #" in tenants and "Tenants: 4 " in tenants  # the new tenant is one of them
    assert "never read" not in out
    assert out.rstrip().endswith("sandbox stopped; its data is gone")
    folder = re.search(r"the demo in (\S+) \(deleted at exit\)", out).group(1)
    assert not Path(folder).exists()
    assert list(_data_home.iterdir()) == []  # the user's data folder is never touched


def test_a_card_receipt_reaches_the_master_admin_whose_approval_reaches_the_registrant() -> None:
    script = ("/register_tenant\nCard VPN\n:newbot\n:press English\n:press Skip\n:press Starter\n:press Card\n"
              ":press Confirm\n:photo paid from Bank Mellat\n:user 1000\n:press 1.1\n:user 2001\n")
    result = CliRunner().invoke(app, ["sandbox"], input=script)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Transfer 1 000.00 RUB to the card 6037991122334455 (Sandbox Operator, Demo Bank)" in _after(out, ":press Confirm")
    sent = _after(out, ":photo paid from Bank Mellat")
    assert "(you sent a picture: paid from Bank Mellat)" in sent and "Your receipt was sent to the administrators" in sent
    assert "(a message from @demo_master_vpn_bot for user 1000: :user 1000 shows it)" in sent
    review = _after(out, ":user 1000")
    assert review.startswith("you are user 1000 now: master admin (MASTER_ADMIN_IDS)\nunread:\nbot #1 [picture]: "
                             "Activation payment #")
    assert "Card VPN (@sandbox_1_vpn_bot)" in review and "    [1] Approve   [2] Reject\n" in review
    approved = _after(out, ":press 1.1")  # message #1, button 1
    assert approved.startswith("(you pressed [1] Approve on #1)\n")
    assert "(a message from @demo_master_vpn_bot for user 2001: :user 2001 shows it)" in approved
    assert "approved: Card VPN is registered" in approved
    registrant = _after(out, ":user 2001")
    assert registrant.startswith("you are user 2001 now: owner of Card VPN (@sandbox_1_vpn_bot)\nunread:\n")
    assert "Your bot Card VPN (@sandbox_1_vpn_bot) is registered and already running!" in registrant


def test_mistakes_are_one_line_each_and_the_end_of_input_stops_it() -> None:
    script = ":bot 9\n:press 1\n:pay\n:user someone\n:hello\n:send\n"
    result = CliRunner().invoke(app, ["sandbox", "--user", "1000", "--bot", "@aurora_vpn_bot"], input=script)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "you are user 1000 (master admin (MASTER_ADMIN_IDS)), talking to @aurora_vpn_bot (Aurora VPN)" in out
    assert _after(out, ":bot 9") == "no bot 9: :bots lists 4\n"
    assert _after(out, ":press 1") == "no message in this chat has buttons\n"
    assert _after(out, ":pay") == "no invoice in this chat to pay\n"
    assert _after(out, ":user someone") == "'someone' is not a Telegram user id (or `new`)\n"
    assert _after(out, ":hello") == "not a sandbox command: :hello (:help lists them; :send :hello sends it to the bot)\n"
    assert _after(out, ":send").startswith(":send needs TEXT (:help)\n")
    assert out.rstrip().endswith("sandbox stopped; its data is gone")


def test_an_unknown_starting_bot_is_refused_in_one_line() -> None:
    result = CliRunner().invoke(app, ["sandbox", "--bot", "@nobody_bot"], input="")
    assert result.exit_code == 1
    assert "no bot @nobody_bot: :bots lists 4" in result.output


def test_a_tenant_bots_user_takes_the_trial_and_buys_and_gets_links_from_the_sandboxs_panel(tmp_path: Path, _data_home: Path) -> None:
    script = ":bot @nimbus_vpn_bot\n/start\n:press Free trial\n:press Menu\n:press Buy\n1\n:press Stars\n:pay\n:quit\n"
    done = subprocess.run([sys.executable, "-c", "from tenantctl.cli.main import main; main()", "sandbox"], input=script,
                          capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    trial = _after(done.stdout, ":press Free trial")
    assert "Your trial runs until" in trial and "Your subscription is ready" in trial and "/api/sub/" in trial
    paid = _after(done.stdout, ":pay")
    assert "Payment received: 1 month" in paid and "Your subscription is ready" in paid
