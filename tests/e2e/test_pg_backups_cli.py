"""`paas pg:backups:*` against a daemon on real PostgreSQL: pg_dump -Fc / pg_restore round trips
checked by querying the restored rows, downloads `pg_restore --list` reads, secret links, schedules."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from paas.postgres.cluster import pg_bin_dir
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.pg import admin_url, embedded_home

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def start(home: Path, **settings: Any) -> DaemonThread:
    home.mkdir()
    return DaemonThread(daemon_settings(home, postgres_url=admin_url(), **settings)).start()


@pytest.fixture
def pg_daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    d = start(tmp_path / "home")
    try:
        yield d
    finally:
        d.stop()


def app_with_db(d: DaemonThread, app: str, rows: int = 0) -> dict[str, Any]:
    with d.client() as c:
        assert c.post("/apps", json={"name": app}).status_code == 201
        addon = c.post(f"/apps/{app}/addons", json={"plan": "heroku-postgresql"}).json()
    if rows:
        with psycopg.connect(database_url(d, app), autocommit=True) as conn:
            conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL)")
            conn.execute(
                "INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, %s) g", (rows,)
            )
    return dict(addon)


def database_url(d: DaemonThread, app: str, var: str = "DATABASE_URL") -> str:
    with d.client() as c:
        return str(c.get(f"/apps/{app}/config-vars").json()[var])


def items(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*), min(name), max(id) FROM items").fetchall()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def failed(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_capture_then_restore_into_a_second_database_and_another_apps(pg_daemon: DaemonThread) -> None:
    d = pg_daemon
    app_with_db(d, "shop", rows=500)
    with d.client() as c:
        second = c.post("/apps/shop/addons", json={"plan": "heroku-postgresql"}).json()
    app_with_db(d, "shop-copy")

    out = ok(d.cli("pg:backups:capture", "-a", "shop"))
    assert "Backing up DATABASE to b001... done" in out
    listing = ok(d.cli("pg:backups", "-a", "shop"))
    assert (
        "=== Backups" in listing and " b001 " in listing and "Completed " in listing and "DATABASE" in listing
    )

    out = ok(d.cli("pg:backups:restore", "b001", second["attachment"], "-a", "shop", "--confirm", "shop"))
    assert f"Starting restore of b001 to {second['name']}... done" in out and "Restoring... done" in out
    assert items(database_url(d, "shop", second["attachment"] + "_URL")) == [(500, "item 1", 500)]

    out = ok(
        d.cli("pg:backups:restore", "shop::b001", "DATABASE", "-a", "shop-copy", "--confirm", "shop-copy")
    )
    assert "Restoring... done" in out
    assert items(database_url(d, "shop-copy")) == [(500, "item 1", 500)]
    # the restored tables belong to the target's own role: the app can write to them
    with psycopg.connect(database_url(d, "shop-copy"), autocommit=True) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('after restore')")

    copy_listing = ok(d.cli("pg:backups", "-a", "shop-copy"))
    assert "=== Restores" in copy_listing and " r001 " in copy_listing and "No backups." in copy_listing
    assert " r002 " in ok(d.cli("pg:backups", "-a", "shop"))  # numbers count per app, every kind


def test_restoring_into_the_same_database_brings_its_rows_back(pg_daemon: DaemonThread) -> None:
    d = pg_daemon
    app_with_db(d, "shop", rows=100)
    ok(d.cli("pg:backups:capture", "-a", "shop"))
    with psycopg.connect(database_url(d, "shop"), autocommit=True) as conn:
        conn.execute("DELETE FROM items WHERE id > 10")
        conn.execute("CREATE TABLE scratch (a int)")  # not in the backup: left alone
    ok(d.cli("pg:backups:restore", "-a", "shop", "--confirm", "shop"))  # the latest backup, DATABASE
    assert items(database_url(d, "shop")) == [(100, "item 1", 100)]
    listing = ok(d.cli("pg:backups", "-a", "shop"))
    assert " r002 " in listing and "Completed " in listing


def test_restore_needs_the_apps_name_and_a_backup_that_exists(pg_daemon: DaemonThread) -> None:
    d = pg_daemon
    app_with_db(d, "shop", rows=10)
    err = failed(d.cli("pg:backups:restore", "b001", "-a", "shop"))
    assert "Confirmation did not match shop. Aborted. Pass --confirm shop" in err
    err = failed(d.cli("pg:backups:restore", "-a", "shop", "--confirm", "shop"))
    assert "Couldn't find that backup for shop. Capture one with paas pg:backups:capture" in err
    ok(d.cli("pg:backups:capture", "-a", "shop"))
    err = failed(d.cli("pg:backups:restore", "b007", "-a", "shop", "--confirm", "shop"))
    assert "Couldn't find that backup b007 for shop." in err
    err = failed(d.cli("pg:backups:restore", "nope::b001", "-a", "shop", "--confirm", "shop"))
    assert "Couldn't find that backup b001 for nope." in err
    err = failed(d.cli("pg:backups:restore", "https://example.com/x.dump", "-a", "shop", "--confirm", "shop"))
    assert "paas restores only backups it holds" in err
    assert items(database_url(d, "shop")) == [(10, "item 1", 10)]  # nothing was touched


def test_download_gives_an_archive_pg_restore_lists_and_the_url_is_secret(
    pg_daemon: DaemonThread, tmp_path: Path
) -> None:
    d = pg_daemon
    app_with_db(d, "shop", rows=200)
    ok(d.cli("pg:backups:capture", "-a", "shop"))
    work = tmp_path / "work"
    work.mkdir()
    out = ok(d.cli("pg:backups:download", "-a", "shop", cwd=str(work)))
    assert "Getting backup from ⬢ shop... done, #1" in out and "Downloading latest.dump... done" in out
    dump = work / "latest.dump"
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    toc = subprocess.run(
        [str(pg_bin_dir() / "pg_restore"), "--list", str(dump)], capture_output=True, text=True
    )
    assert toc.returncode == 0, toc.stderr
    assert "TABLE DATA public items" in toc.stdout
    ok(d.cli("pg:backups:download", "b001", "-a", "shop", cwd=str(work)))
    assert (work / "latest.dump.1").read_bytes() == dump.read_bytes()  # never overwrites

    url = ok(d.cli("pg:backups:url", "b001", "-a", "shop")).strip()
    assert url.startswith(f"{d.api_url}/pgbackups/") and "signature=" in url
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == dump.read_bytes()
    assert httpx.get(url.split("?")[0]).status_code == 403
    assert httpx.get(url[:-1] + ("0" if url[-1] != "0" else "1")).status_code == 403
    unknown, _ = d.d.pgbackups.links.make("00000000-0000-0000-0000-000000000000")
    assert httpx.get(unknown).status_code == 404
    # a link the daemon made is also a restore source
    app_with_db(d, "other")
    ok(d.cli("pg:backups:restore", url, "-a", "other", "--confirm", "other"))
    assert items(database_url(d, "other")) == [(200, "item 1", 200)]


def test_info_and_delete(pg_daemon: DaemonThread) -> None:
    d = pg_daemon
    app_with_db(d, "shop", rows=50)
    ok(d.cli("pg:backups:capture", "-a", "shop"))
    info = ok(d.cli("pg:backups:info", "-a", "shop"))
    assert "=== Backup b001" in info and "Status:" in info and "Completed" in info
    assert "Type:             Manual" in info and "compression)" in info
    assert "=== Backup Logs" in info and "pg_dump finished successfully" in info
    err = failed(d.cli("pg:backups:info", "b009", "-a", "shop"))
    assert "Invalid Backup: b009" in err
    err = failed(d.cli("pg:backups:delete", "b001", "-a", "shop"))
    assert "Confirmation did not match shop" in err
    out = ok(d.cli("pg:backups:delete", "b001", "-a", "shop", "--confirm", "shop"))
    assert "Deleting backup b001 on ⬢ shop... done" in out
    assert "No backups. Capture one with paas pg:backups:capture" in ok(d.cli("pg:backups", "-a", "shop"))
    assert list((d.settings.pg_backups_dir).glob("*/*")) == []  # the file went with it
    err = failed(d.cli("pg:backups:url", "b001", "-a", "shop"))
    assert "Invalid Backup: b001" in err


def test_a_restore_over_conflicting_objects_says_which_statements_failed(pg_daemon: DaemonThread) -> None:
    d = pg_daemon
    app_with_db(d, "shop", rows=20)
    ok(d.cli("pg:backups:capture", "-a", "shop"))
    app_with_db(d, "busy", rows=3)
    with psycopg.connect(database_url(d, "busy"), autocommit=True) as conn:
        # an object the backup knows nothing about depends on a table the restore must replace
        conn.execute("CREATE VIEW recent AS SELECT * FROM items WHERE id > 1")
    result = d.cli("pg:backups:restore", "shop::b001", "-a", "busy", "--confirm", "busy")
    out = ok(result)
    assert "Restoring... done" in out
    assert "finished with" in result.stderr and "errors ignored by pg_restore" in result.stderr
    assert "depend" in result.stderr  # pg_restore's own reason, e.g. "other objects depend on it"
    assert "Finished with" in ok(d.cli("pg:backups", "-a", "busy"))


def test_capture_is_refused_while_one_runs_and_retention_follows_the_plan(pg_daemon: DaemonThread) -> None:
    d = pg_daemon
    addon = app_with_db(d, "shop", rows=5)
    with d.client() as c:
        for _ in range(6):
            first = c.post(f"/client/v11/databases/{addon['name']}/backups").json()
            again = c.post(f"/client/v11/databases/{addon['name']}/backups")
            assert again.status_code in (201, 409)
            if again.status_code == 409:
                assert "is still running" in again.json()["message"]
            wait_done(c, "shop", first["num"])
            if again.status_code == 201:
                wait_done(c, "shop", again.json()["num"])
        names = [t["name"] for t in c.get("/client/v11/apps/shop/transfers").json()]
    assert len(names) == 5  # essential plans keep 5 manual backups: the oldest went
    assert "b001" not in names
    assert len(list(d.settings.pg_backups_dir.glob("*/*.dump"))) == 5


def wait_done(c: httpx.Client, app: str, num: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = c.get(f"/client/v11/apps/{app}/transfers/{num}").json()
        if t["finished_at"]:
            return dict(t)
        time.sleep(0.2)
    raise AssertionError(f"transfer {num} of {app} did not finish")


def test_a_daily_schedule_runs_on_a_shortened_day(tmp_path: Path) -> None:
    d = start(tmp_path / "home", pg_backup_day=6.0)  # a "day" every 6 s: 02:00 is 0.5 s into it
    try:
        app_with_db(d, "shop", rows=5)
        out = ok(d.cli("pg:backups:schedule", "--at", "02:00 UTC", "-a", "shop"))
        assert "Scheduling automatic daily backups of" in out and "at 02:00 UTC... done" in out
        assert "DATABASE_URL: daily at 2:00 UTC" in ok(d.cli("pg:backups:schedules", "-a", "shop"))
        err = failed(d.cli("pg:backups:schedule", "--at", "2:30", "-a", "shop"))
        assert "Invalid schedule format: expected --at '[HOUR]:00 [TIMEZONE]'" in err
        with d.client() as c:
            scheduled = wait_for_scheduled(c, "shop", count=2)
        assert [t["name"][0] for t in scheduled] == ["a", "a"]
        assert "Type:             Scheduled" in ok(
            d.cli("pg:backups:info", scheduled[0]["name"], "-a", "shop")
        )
        assert "Unscheduling DATABASE_URL daily backups... done" in ok(
            d.cli("pg:backups:unschedule", "-a", "shop")
        )
        assert "No backup schedules found on ⬢ shop" in ok(d.cli("pg:backups:schedules", "-a", "shop"))
    finally:
        d.stop()


def wait_for_scheduled(c: httpx.Client, app: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [
            t for t in c.get(f"/client/v11/apps/{app}/transfers").json() if t["schedule"] and t["succeeded"]
        ]
        if len(done) >= count:
            return done[:count]
        time.sleep(0.5)
    raise AssertionError("the schedule did not run")


def test_backups_are_private_files(pg_daemon: DaemonThread) -> None:
    d = pg_daemon
    app_with_db(d, "shop", rows=5)
    ok(d.cli("pg:backups:capture", "-a", "shop"))
    root = d.settings.pg_backups_dir
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    (file,) = root.glob("*/*.dump")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    # destroying the app takes its backups with it
    with d.client() as c:
        assert c.delete("/apps/shop").status_code == 200
    deadline = time.monotonic() + 30
    while file.parent.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not file.parent.exists()
    assert os.listdir(root) == []


def test_the_embedded_clusters_own_pg_dump_and_pg_restore_round_trip() -> None:
    with embedded_home() as home:
        d = DaemonThread(daemon_settings(home)).start()  # no PAAS_POSTGRES_URL: the pgserver cluster
        try:
            app_with_db(d, "shop", rows=300)
            with d.client() as c:
                second = c.post("/apps/shop/addons", json={"plan": "heroku-postgresql"}).json()
            assert "Backing up DATABASE to b001... done" in ok(d.cli("pg:backups:capture", "-a", "shop"))
            ok(d.cli("pg:backups:restore", "b001", second["name"], "-a", "shop", "--confirm", "shop"))
            assert items(database_url(d, "shop", second["attachment"] + "_URL")) == [(300, "item 1", 300)]
        finally:
            d.stop()
