"""Values a column cannot hold are refused before the database, naming the field, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typer.testing import CliRunner

from tenantctl.cli.main import app
from tests.tenants.support import tenant_token
from tests.tenants.test_cli import create, platform  # noqa: F401 (platform is a fixture)

runner = CliRunner()


def refused(*args: str, code: int, message: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert result.output.replace("\n", " ").strip() == f"error: {message}"


def test_lengths_and_ranges_are_checked_before_the_database(cli_env, platform) -> None:  # noqa: F811
    refused("plans", "create", "x" * 5000, "--price", "100", code=1, message="plan name is too long (at most 100 characters)")
    refused("plans", "create", "big", "--price", "99999999999999999999", code=1,
            message="plan monthly price kopeks is out of range (-2147483648 to 2147483647)")
    refused("tenant", "create", "--name", "Big Owner", "--token", tenant_token(9), "--owner", "99999999999999999999999", "--plan",
            "starter", "--offline", code=1, message="bot owner telegram id is out of range (-9223372036854775808 to 9223372036854775807)")
    refused("tenant", "show", "99999999999999999999999", code=1, message="no tenant bot '99999999999999999999999'")
    listed = runner.invoke(app, ["plans", "list", "--json"])
    assert listed.exit_code == 0 and '"big"' not in listed.output and "xxxx" not in listed.output


def test_what_users_supply_prints_as_itself(cli_env, platform) -> None:  # noqa: F811
    names = {1: "[/]Evil", 2: "[link=https://evil.example]Sever VPN[/link]", 3: "Clear\x1b[2J Screen\x07"}
    for n, name in names.items():
        made = runner.invoke(app, ["tenant", "create", "--name", name, "--token", tenant_token(n), "--owner", str(800 + n),
                                   "--plan", "starter", "--offline"])
        assert made.exit_code == 0, made.output
        assert "API token" in made.output  # printed after the commit: it must not be lost to a markup error
    listed = runner.invoke(app, ["tenant", "list"])
    assert listed.exit_code == 0, listed.output
    assert "[/]Evil" in listed.output and "\x1b" not in listed.output and "\x07" not in listed.output
    for n, shown_as in ((1, "[/]Evil"), (2, "[link=https://evil.example]Sever VPN[/link]"), (3, "Clear[2J Screen")):
        shown = runner.invoke(app, ["tenant", "show", names[n]])
        assert shown.exit_code == 0 and shown_as in shown.output.replace("\n", ""), shown.output
    audit = runner.invoke(app, ["audit", "list"])
    assert audit.exit_code == 0 and "\x1b" not in audit.output
    missing = runner.invoke(app, ["tenant", "show", "[bold]x\x1b[31m"])
    assert missing.exit_code == 1 and "no tenant bot '[bold]x" in missing.output and "\x1b" not in missing.output
    ticked = runner.invoke(app, ["billing", "tick"])
    assert ticked.exit_code == 0, ticked.output


def test_a_closed_pipe_ends_quietly_with_success(cli_env, platform) -> None:  # noqa: F811
    import subprocess
    import sys

    for args in (["plans", "list"], ["plans", "list", "--json"]):
        command = subprocess.Popen([sys.executable, "-c", "from tenantctl.cli.main import main; main()", *args],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        command.stdout.close()  # `| head -0`: the reader is gone before the first line
        assert (command.wait(timeout=60), command.stderr.read()) == (0, b""), args


def test_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"tenantctl {version('tenantctl')}\n"


def test_flags_sync_asks_before_marking_most_of_the_catalogue_absent(cli_env, platform, tmp_path) -> None:  # noqa: F811
    import json

    empty = tmp_path / "empty.env"
    empty.write_text("# nothing here\n")
    before = json.loads(runner.invoke(app, ["flags", "list", "--json"]).stdout)
    kept = runner.invoke(app, ["flags", "sync", str(empty)], input="n\n")
    assert kept.exit_code == 1 and "would mark" in kept.output and "nothing changed" in kept.output
    assert json.loads(runner.invoke(app, ["flags", "list", "--json"]).stdout) == before
    done = runner.invoke(app, ["flags", "sync", str(empty), "--yes"])
    assert done.exit_code == 0 and f"{len(before)} absent" in done.output


def test_a_catalogue_larger_than_sqlite_bound_parameters_syncs(cli_env, platform, tmp_path) -> None:  # noqa: F811
    import json

    assert create(1).exit_code == 0  # a tenant whose flags follow
    big = tmp_path / "big.env"
    # one VALUES row per (plan, feature, active or not), 7 parameters each: 84,000, past SQLite's 32,766 in one statement
    big.write_text("".join(f"FEATURE{n:05d}_ENABLED=true\n" for n in range(6_000)))
    synced = runner.invoke(app, ["flags", "sync", str(big), "--yes"])
    assert synced.exit_code == 0, synced.output
    assert " ".join(synced.output.split()).endswith("6000 added, 0 changed, 3 absent, 0 unchanged")
    flags = json.loads(runner.invoke(app, ["tenant", "features", "Shop 1", "--json"]).stdout)
    assert sum(f["key"].startswith("feature") and f["value"] is True for f in flags) == 6_000
