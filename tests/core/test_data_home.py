"""Where the data lives: one per-user folder for the embedded database and the key file, whatever the working folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tenantctl.core.settings import Settings, data_home

CLI = [sys.executable, "-c", "from tenantctl.cli.main import app; app()"]


def test_the_data_folder_follows_tenantctl_home_then_xdg_then_home(tmp_path: Path) -> None:
    assert data_home({"TENANTCTL_HOME": str(tmp_path / "t")}) == tmp_path / "t"
    assert data_home({"XDG_DATA_HOME": str(tmp_path / "x")}) == tmp_path / "x" / "tenantctl"
    assert data_home({}) == Path.home() / ".local" / "share" / "tenantctl"


def test_defaults_live_in_the_data_folder_and_relative_sqlite_paths_are_resolved_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "TENANTCTL_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    home = Path(os.environ["TENANTCTL_HOME"])
    loaded = Settings.load(env_file=None)
    assert loaded.database_url == f"sqlite+aiosqlite:///{home / 'tenantctl.db'}"
    assert loaded.key_file == str(home / "secret.key")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///data/x.db")
    monkeypatch.setenv("TENANTCTL_KEY_FILE", "keys/k")
    loaded = Settings.load(env_file=None)
    assert loaded.database_url == f"sqlite:///{tmp_path / 'data' / 'x.db'}"
    assert loaded.key_file == str(tmp_path / "keys" / "k")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert Settings.load(env_file=None).database_url == "postgresql://u@h/db"


def test_cron_in_another_folder_uses_the_same_database_and_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TENANTCTL_SECRET_KEY", "TENANTCTL_KEY_FILE")}
    env["TENANTCTL_HOME"] = str(tmp_path / "home")
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    made = subprocess.run([*CLI, "plans", "create", "solo", "--price", "100"], cwd=first, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    listed = subprocess.run([*CLI, "plans", "list", "--json"], cwd=second, env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and '"solo"' in listed.stdout, listed.stderr
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["secret.key", "tenantctl.db"]
    assert not any(first.iterdir()) and not any(second.iterdir())


def test_a_sqlite_file_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/x.db"}
    result = subprocess.run([*CLI, "tenant", "list"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == f"error: DATABASE_URL: the folder {tmp_path}/missing does not exist (create it, or fix the path)\n"
