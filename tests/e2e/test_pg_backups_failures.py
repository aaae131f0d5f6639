"""pg:backups when things go wrong for real: a full disk under the backups, a daemon SIGKILLed in
the middle of pg_dump. Each ends in a failed backup that says why, never a half file counted done."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from paas.addons.postgres import addon_names
from tests.e2e.test_crash_points import daemon
from tests.e2e.test_pg_backups_cli import app_with_db, database_url, failed, ok, wait_done
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.pg import admin_url
from tests.support.require import require

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@contextmanager
def tiny_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (a real filesystem that fills up)."""
    require(os.geteuid() == 0 and shutil.which("mount") is not None, "mounting a tmpfs needs root")
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_fails_the_backup_with_the_reason_and_leaves_no_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = daemon_settings(home, postgres_url=admin_url())
    with tiny_disk(settings.pg_backups_dir, "128k") as disk:
        d = DaemonThread(settings).start()
        try:
            app_with_db(d, "shop")
            with psycopg.connect(database_url(d, "shop"), autocommit=True) as conn:
                conn.execute(
                    "CREATE TABLE noise AS SELECT md5(random()::text) AS a FROM generate_series(1, 40000)"
                )
            err = failed(d.cli("pg:backups:capture", "-a", "shop"))
            assert "Backing up DATABASE to b001... !" in err
            assert "An error occurred and the backup did not finish." in err
            assert "No space left on device: the backup stopped after" in err
            assert "Run paas pg:backups:info b001 for more details." in err
            assert list(disk.glob("*/*")) == []  # the partial file is gone, nothing looks done
            listing = ok(d.cli("pg:backups", "-a", "shop"))
            assert " b001 " in listing and "Failed " in listing
            with d.client() as c:
                assert c.post("/client/v11/apps/shop/transfers/1/actions/public-url").status_code == 422
            assert failed(d.cli("pg:backups:restore", "b001", "-a", "shop", "--confirm", "shop"))
        finally:
            d.stop()


def no_pg_dump_of(database: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [
            p for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "pg_dump" and any(database in arg for arg in p.info["cmdline"] or ())
        ]  # fmt: skip
        if not running:
            return True
        time.sleep(0.2)
    return False


def test_a_daemon_killed_mid_capture_leaves_a_failed_backup_the_next_start_marks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"PAAS_POSTGRES_URL": admin_url()}
    with daemon(home, **env) as first:
        first.api.post("/apps", json={"name": "shop"})
        addon = first.api.post("/apps/shop/addons", json={"plan": "heroku-postgresql"}).json()
        url = first.api.get("/apps/shop/config-vars").json()["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE noise AS SELECT md5(random()::text) AS a FROM generate_series(1, 20000)")
    with daemon(home, crash="pgbackup.mid_capture", **env) as dying:
        started = dying.api.post(f"/client/v11/databases/{addon['name']}/backups")
        assert started.status_code == 201
        assert dying.proc.proc.wait(60) != 0  # it SIGKILLed itself with pg_dump part way
        dying.proc.log.close()
        partials = list((home / "pgbackups").glob("*/*.partial"))
        assert partials, "pg_dump had written part of the archive"
        assert no_pg_dump_of(addon_names(addon["name"])[0]), "pg_dump died with the daemon"
    with daemon(home, **env) as again:
        t = again.api.get("/client/v11/apps/shop/transfers/1", params={"verbose": "true"}).json()
        assert t["status"] == "failed" and not t["succeeded"] and t["finished_at"]
        assert t["error"] == "interrupted: the paas daemon stopped during the backup"
        assert list((home / "pgbackups").glob("*/*")) == []
        assert again.api.post("/client/v11/apps/shop/transfers/1/actions/public-url").status_code == 422
        nxt = again.api.post(f"/client/v11/databases/{addon['name']}/backups").json()
        assert nxt["name"] == "b002"
        assert wait_done(again.api, "shop", 2)["succeeded"]


@contextmanager
def table_locked(url: str) -> Iterator[psycopg.Connection[Any]]:
    """The app itself holds `items` exclusively: pg_dump waits for it (no output meanwhile)."""
    with psycopg.connect(url) as conn:
        conn.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        yield conn
        conn.rollback()


def wait_until_dump_waits(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'paas pg:backups' "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.2)
    raise AssertionError("pg_dump never waited on the lock")


def test_cancel_stops_a_pg_dump_that_waits_on_a_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url())).start()
    try:
        addon = app_with_db(d, "shop", rows=10)
        url = database_url(d, "shop")
        with table_locked(url), d.client() as c:
            assert c.post(f"/client/v11/databases/{addon['name']}/backups").status_code == 201
            wait_until_dump_waits(url)
            assert "Cancelling b001... done" in ok(d.cli("pg:backups:cancel", "-a", "shop"))
            t = wait_done(c, "shop", 1)
        assert (t["status"], t["error"], t["succeeded"]) == ("failed", "canceled", False)
        assert t["canceled_at"] and t["finished_at"]
        assert "Status:           Canceled" in ok(d.cli("pg:backups:info", "b001", "-a", "shop"))
        assert list(d.settings.pg_backups_dir.glob("*/*")) == []
        assert "No active backups/transfers" in failed(d.cli("pg:backups:cancel", "-a", "shop"))
        assert "Backing up DATABASE to b002... done" in ok(d.cli("pg:backups:capture", "-a", "shop"))
    finally:
        d.stop()


def test_a_daemon_stopping_mid_capture_fails_the_backup_and_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = daemon_settings(home, postgres_url=admin_url())
    d = DaemonThread(settings).start()
    stopped = False
    try:
        addon = app_with_db(d, "shop", rows=10)
        url = database_url(d, "shop")
        with table_locked(url):
            with d.client() as c:
                assert c.post(f"/client/v11/databases/{addon['name']}/backups").status_code == 201
            wait_until_dump_waits(url)
            d.stop()  # SIGTERM's path: pg_dump is killed, the row is written before the daemon exits
            stopped = True
        d = DaemonThread(settings).start()
        stopped = False
        with d.client() as c:
            t = c.get("/client/v11/apps/shop/transfers/1").json()
        assert (t["status"], t["error"]) == ("failed", "the paas daemon stopped during the backup")
        assert list(settings.pg_backups_dir.glob("*/*")) == []
    finally:
        if not stopped:
            d.stop()
