"""The installed `paas` script: addons:create heroku-postgresql, pg:*, dataclips:* (real PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.pg import admin_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url())).start()
    try:
        yield d
    finally:
        d.stop()


def interactive(d: DaemonThread, args: list[str], typed: str, timeout: float = 30) -> str:
    """Run the CLI on a pseudo-terminal, type `typed`, return everything it printed."""
    exe = Path(sys.executable).with_name("paas")
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI with the pty as its terminal
        os.execve(str(exe), [str(exe), *args], {**d.env(), "TERM": "dumb", "PAGER": "cat"})
    output = b""
    os.write(fd, typed.encode())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif os.waitpid(pid, os.WNOHANG) != (0, 0):
            break
    else:
        os.kill(pid, 9)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    os.close(fd)
    return output.decode(errors="replace")


def test_postgres_addon_and_dataclips_from_the_cli(pg_daemon: DaemonThread, tmp_path: Path) -> None:
    d = pg_daemon
    assert d.cli("apps:create", "books").returncode == 0
    r = d.cli("addons:create", "heroku-postgresql", "-a", "books")
    assert r.returncode == 0, r.stderr
    assert "Creating heroku-postgresql on ⬢ books... done" in r.stderr
    assert "as DATABASE_URL" in r.stdout
    addon = json.loads(d.cli("addons", "-a", "books", "--json").stdout)[0]["name"]

    r = d.cli(
        "pg:psql",
        "-a",
        "books",
        "-c",
        "CREATE TABLE titles (id int, name text); INSERT INTO titles VALUES (1, 'Dune'), (2, 'Emma');",
    )
    assert r.returncode == 0, r.stderr
    assert f"--> Connecting to {addon}" in r.stderr and "INSERT 0 2" in r.stdout
    r = d.cli("pg:psql", "-a", "books", "-c", "SELECT name FROM titles ORDER BY id")
    assert "Dune" in r.stdout and "Emma" in r.stdout
    bad = d.cli("pg:psql", "-a", "books", "-c", "SELEC 1")
    assert bad.returncode != 0 and 'syntax error at or near "SELEC"' in bad.stderr

    info = d.cli("pg:info", "-a", "books").stdout
    assert info.startswith("=== DATABASE_URL\n")
    assert "Plan:                  Essential 0" in info and "Tables:                1" in info
    assert f"Add-on:                {addon}" in info
    creds = d.cli("pg:credentials:url", "-a", "books").stdout
    url = d.client().get("/apps/books/config-vars").json()["DATABASE_URL"]
    assert "Connection URL:" in creds and url in creds

    r = d.cli(
        "dataclips:create",
        "--title",
        "All titles",
        "--addon",
        addon,
        "--sql",
        "SELECT id, name FROM titles ORDER BY id",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    clip = json.loads(r.stdout)
    sql_file = tmp_path / "count.sql"
    sql_file.write_text("SELECT count(*) AS n FROM titles\n")
    r = d.cli("dataclips:create", "--title", "Count", "--addon", addon, "--file", str(sql_file))
    assert r.returncode == 0 and r.stdout.startswith("Created dataclip 2 (Count) on ")
    missing = d.cli("dataclips:create", "--title", "x", "--addon", addon)
    assert missing.returncode == 1 and "exactly one of --sql SQL or --file FILE" in missing.stderr

    listing = d.cli("dataclips").stdout
    assert "All titles" in listing and "Count" in listing
    run = d.cli("dataclips:run", str(clip["id"]))
    assert run.returncode == 0 and run.stdout.startswith("=== All titles\n")
    assert "Dune" in run.stdout and "2 rows" in run.stdout
    as_json = json.loads(d.cli("dataclips:run", str(clip["id"]), "--json").stdout)
    assert as_json["fields"] == ["id", "name"] and as_json["values"] == [[1, "Dune"], [2, "Emma"]]

    share = json.loads(d.cli("dataclips:share", str(clip["id"]), "--json").stdout)
    assert httpx.get(share["csv_url"]).text == "id,name\n1,Dune\n2,Emma\n"
    revoke = d.cli("dataclips:revoke", str(clip["id"]))
    assert revoke.returncode == 0 and "it now answers 404" in revoke.stdout
    assert httpx.get(share["url"]).status_code == 404

    # a failing clip: exit 1 and the reason, with its position
    d.client().patch(f"/dataclips/api/clips/{clip['id']}", json={"sql": "SELECT nam FROM titles"})
    failed = d.cli("dataclips:run", str(clip["id"]))
    assert failed.returncode == 1
    assert ' ›   Error: column "nam" does not exist (line 1, column 8)' in failed.stderr
    assert d.cli("dataclips:run", "999").returncode == 1

    # interactive: psql takes over the terminal
    session = interactive(d, ["pg:psql", "-a", "books"], "SELECT upper(name) FROM titles ORDER BY id;\n\\q\n")
    assert "DUNE" in session and "EMMA" in session

    refused = d.cli("pg:reset", "-a", "books", "--confirm", "wrong")
    assert refused.returncode == 1 and "Confirmation did not match books" in refused.stderr
    assert d.cli("pg:psql", "-a", "books", "-c", "SELECT 1 FROM titles").returncode == 0  # nothing lost
    r = d.cli("pg:reset", "-a", "books", "--confirm", "books")
    assert r.returncode == 0 and f"Resetting {addon}... done" in r.stderr
    gone = d.cli("pg:psql", "-a", "books", "-c", "SELECT 1 FROM titles")
    assert gone.returncode != 0 and 'relation "titles" does not exist' in gone.stderr

    assert d.cli("addons:destroy", addon, "-a", "books", "--confirm", "books").returncode == 0
    assert "DATABASE_URL" not in d.cli("config", "-a", "books").stdout
    nodb = d.cli("pg:info", "-a", "books")
    assert nodb.returncode == 1 and "has no heroku-postgresql databases" in nodb.stderr
