"""The embedded PostgreSQL inside a whole daemon: lazy first start, stop with the daemon,
back (same port, same credentials) when the daemon restarts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.pg import embedded_home

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def postgres_pids(data_dir: Path) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(data_dir) in cmdline:
            pids.append(proc.pid)
    return pids


@pytest.fixture
def home() -> Iterator[Path]:
    with embedded_home() as path:
        yield path


def test_embedded_cluster_follows_the_daemon(home: Path) -> None:
    data_dir = home / "postgres" / "data"
    d = DaemonThread(daemon_settings(home)).start()
    try:
        assert not data_dir.exists()  # nothing is started before the first use
        c = d.client()
        c.post("/apps", json={"name": "keep"})
        assert c.post("/apps/keep/addons", json={"plan": "heroku-postgresql"}).status_code == 201
        url = c.get("/apps/keep/config-vars").json()["DATABASE_URL"]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE notes (body text)")
            conn.execute("INSERT INTO notes VALUES ('survives restarts')")
        assert postgres_pids(data_dir)
    finally:
        d.stop()
    assert postgres_pids(data_dir) == []  # stopped with the daemon
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)

    again = DaemonThread(daemon_settings(home)).start()
    try:
        deadline = time.monotonic() + 30
        while True:  # an existing cluster starts with the daemon, so the app's URL works again
            try:
                with psycopg.connect(url, connect_timeout=2) as conn:
                    assert conn.execute("SELECT body FROM notes").fetchone() == ("survives restarts",)
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, "the embedded PostgreSQL did not come back"
                time.sleep(0.2)
    finally:
        again.stop()
    assert postgres_pids(data_dir) == []
