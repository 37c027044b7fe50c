"""`tenantctl db` through the real Typer app."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tenantctl.cli.main import app
from tenantctl.core.migrate import head_revision

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def test_upgrade_then_current_on_each_backend(empty_db_url: str, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": empty_db_url, "TENANTCTL_SECRET_KEY": ""}
    before = invoke("db", "current", env=env)
    assert before.exit_code == 0 and "behind" in before.output
    up = invoke("db", "upgrade", env=env)
    assert up.exit_code == 0, up.output
    now = invoke("db", "current", env=env)
    assert now.exit_code == 0 and "up to date" in now.output
    previous = f"{int(head_revision()) - 1:04d}"  # revisions are numbered 0001, 0002, ...
    step = invoke("db", "downgrade", "-1", env=env)  # the form the help shows
    assert step.exit_code == 0 and f"revision {previous}" in step.output, step.output
    kept = runner.invoke(app, ["db", "downgrade", "base"], env=env, input="n\n")
    assert kept.exit_code == 1 and "drops every table" in kept.output and "nothing changed" in kept.output
    assert f"at {previous}" in invoke("db", "current", env=env).output
    down = invoke("db", "downgrade", "base", "--yes", env=env)
    assert down.exit_code == 0 and "revision base" in down.output


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgresql+psycopg://root:hunter2@127.0.0.1:1/nope", "cannot use the database at postgresql+psycopg://root:***@127.0.0.1:1/nope"),
        ("mysql://root@localhost/x", "unsupported driver 'mysql'"),
        ("not a url", "not a database URL"),
    ],
)
def test_bad_database_url_is_one_line_without_traceback(url: str, expected: str, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("db", "current", env={"DATABASE_URL": url})
    assert result.exit_code == 2
    assert expected in result.output.replace("\n", "")
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output


def test_keygen_prints_a_usable_key() -> None:
    from tenantctl.core.crypto import SecretBox

    result = invoke("db", "keygen")
    assert result.exit_code == 0
    box = SecretBox(result.output.strip())
    assert box.decrypt(box.encrypt("123:abc")) == "123:abc"
