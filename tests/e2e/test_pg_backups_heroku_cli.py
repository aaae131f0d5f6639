"""The official Heroku CLI (npm `heroku`) reads paas's backups through Heroku's data API paths:
`pg:backups`, `pg:backups:info`, `pg:backups:url`, `pg:backups:delete` run unmodified against the
daemon (`HEROKU_HOST`, `HEROKU_DATA_HOST`); `tests/e2e/test_heroku_cli.py` covers capture and restore."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_pg_backups_cli import app_with_db, ok, wait_done
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.herokucli import ensure_heroku_cli
from tests.support.pg import admin_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def heroku_cli() -> str:
    """The pinned CLI the other heroku tests use (installed under the venv on first use)."""
    return str(ensure_heroku_cli())


def heroku(d: DaemonThread, home: Path, *args: str) -> str:
    env = dict(
        os.environ,
        HEROKU_HOST=d.api_url,
        HEROKU_DATA_HOST="127.0.0.1",  # with HEROKU_HOST's scheme and port
        HEROKU_API_KEY=d.d.token,
        HOME=str(home),
        HEROKU_SKIP_NEW_VERSION_CHECK="true",
    )
    result = subprocess.run([heroku_cli(), *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_the_official_cli_lists_shows_links_and_deletes_backups(tmp_path: Path) -> None:
    heroku_cli()  # skipped (or failed in CI) before a daemon starts
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url())).start()
    try:
        app_with_db(d, "shop", rows=30)
        ok(d.cli("pg:backups:capture", "-a", "shop"))
        with d.client() as c:
            wait_done(c, "shop", 1)
        user_home = tmp_path / "user"
        user_home.mkdir()
        listing = heroku(d, user_home, "pg:backups", "-a", "shop")
        assert "b001" in listing and "Completed 20" in listing and "DATABASE" in listing
        info = heroku(d, user_home, "pg:backups:info", "b001", "-a", "shop")
        assert "=== Backup b001" in info and "Completed" in info and "Manual" in info
        assert "pg_dump finished successfully" in info
        url = heroku(d, user_home, "pg:backups:url", "b001", "-a", "shop").strip().splitlines()[0]
        assert httpx.get(url).status_code == 200
        assert "Deleting backup b001 on" in heroku(
            d, user_home, "pg:backups:delete", "b001", "-a", "shop", "--confirm", "shop"
        )
        assert "No backups. Capture one with heroku pg:backups:capture" in heroku(
            d, user_home, "pg:backups", "-a", "shop"
        )
    finally:
        d.stop()
