"""Secrets at rest through a whole daemon: a used home holds nothing another user can read.

The home is used the way a class uses it (an app with a config var, a Kafka add-on, a Postgres
add-on on the embedded cluster, a deploy with a running dyno), then walked: every directory is
private and every file that holds one of the secrets handed out (the token, the config var,
the add-ons' passwords and client key) is 0600. A home made before the fix is tightened at the
next start with one line naming what changed.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import stat
import subprocess
import tarfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.require import require

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# a root daemon runs the embedded PostgreSQL as its own user, which passes through the home
HOME_MODE = 0o711 if os.geteuid() == 0 else 0o700


def _pgserver_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pgserver") is not None


def _source() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        lib = tarfile.TarInfo("lib")
        lib.type, lib.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(lib)
        for name, text in {
            "Procfile": "web: sleep 600\n",
            "README": "hello\n",
            "lib/app.py": "x = 1\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(text), 0o644
            tar.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


def _use_the_home(daemon: DaemonThread) -> list[bytes]:
    """Everything a user does that leaves secrets in the home; returns the secrets."""
    c = daemon.client(timeout=120)
    assert c.post("/apps", json={"name": "vault"}).status_code == 201
    marker = "s3cret-" + secrets.token_hex(8)
    assert c.patch("/apps/vault/config-vars", json={"API_KEY": marker}).status_code == 200
    assert c.post("/apps/vault/addons", json={"plan": "heroku-kafka:basic-0"}).status_code == 201
    r = c.post("/apps/vault/addons", json={"plan": "heroku-postgresql:essential-0"})
    assert r.status_code == 201, r.text
    blob = c.post("/apps/vault/sources", content=_source()).json()["source_blob"]
    build = c.post("/apps/vault/builds", json={"source_blob": blob}).json()
    deadline = time.monotonic() + 120
    while c.get(f"/apps/vault/builds/{build['id']}").json()["status"] == "pending":
        assert time.monotonic() < deadline, "the build did not finish"
        time.sleep(0.2)
    config = c.get("/apps/vault/config-vars").json()
    database_password = urlsplit(config["DATABASE_URL"]).password
    assert database_password
    key_body = config["KAFKA_CLIENT_CERT_KEY"].splitlines()[1]
    return [
        marker.encode(),
        daemon.d.token.encode(),
        database_password.encode(),
        config["KAFKA_SASL_PASSWORD"].encode(),
        key_body.encode(),
    ]


def _exposed(home: Path, found: list[bytes], traversable: set[Path]) -> list[str]:
    """What group or others could get at: a directory they can reach that lets them list, write
    or (unless it is one the PostgreSQL server passes through) enter it; any file holding a
    secret that is not 0600, reachable or not. (The app's own source directories may keep their
    archive modes: behind 0700 directories nobody else reaches them.)"""
    exposed: list[str] = []
    enterable: dict[Path, bool] = {}  # can group or others enter this directory?
    for dirpath, _dirnames, filenames in os.walk(home):
        here = Path(dirpath)
        mode = stat.S_IMODE(here.stat().st_mode)
        reachable = here == home or enterable[here.parent]
        allowed = 0o011 if here in traversable else 0
        if reachable and mode & 0o077 & ~allowed:
            exposed.append(f"{here.relative_to(home)}/ {mode:04o}")
        enterable[here] = reachable and bool(mode & 0o011)
        for name in filenames:
            path = here / name
            if path.is_symlink() or not path.is_file():
                continue
            file_mode = stat.S_IMODE(path.stat().st_mode)
            if file_mode & 0o077 and any(s in path.read_bytes() for s in found):
                exposed.append(f"{path.relative_to(home)} {file_mode:04o}")
    return exposed


def test_a_used_home_shows_nothing_secret_to_other_users(
    paas_home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    require(_pgserver_available(), "the embedded PostgreSQL (pgserver) is not installed")
    os.chmod(paas_home, 0o755)  # as an earlier daemon (or mkdir) left it
    daemon = DaemonThread(daemon_settings(paas_home)).start()
    try:
        assert "tightened permissions in PAAS_HOME" in capfd.readouterr().err
        found = _use_the_home(daemon)
        superuser = json.loads((paas_home / "postgres" / "cluster.json").read_text())["password"]
        found.append(superuser.encode())
        traversable = {paas_home, paas_home / "postgres"} if os.geteuid() == 0 else set()
        # while it runs: the SQLite WAL and SHM, the Kafka tenants (the registry holds only SCRAM hashes), the cluster, the dyno
        assert (paas_home / "state.sqlite3-wal").exists()
        assert _exposed(paas_home, found, traversable) == []
        holders = [p for p in paas_home.rglob("*") if p.is_file() and any(s in p.read_bytes() for s in found)]
        names = {p.relative_to(paas_home).as_posix() for p in holders}
        assert {"token", "kafka/tenants.json", "postgres/cluster.json"} <= names
        assert names & {"state.sqlite3", "state.sqlite3-wal"}
    finally:
        daemon.stop()
    assert _exposed(paas_home, found, traversable) == []


def test_a_home_made_before_the_fix_is_tightened_at_start_with_one_line(
    paas_home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    daemon = DaemonThread(daemon_settings(paas_home)).start()
    try:
        c = daemon.client()
        c.post("/apps", json={"name": "old"})
        c.patch("/apps/old/config-vars", json={"PASSWORD": "hunter2"})
        c.post("/apps/old/addons", json={"plan": "heroku-kafka:basic-0"})
    finally:
        daemon.stop()
    capfd.readouterr()
    os.chmod(paas_home, 0o755)
    os.chmod(paas_home / "state.sqlite3", 0o644)
    os.chmod(paas_home / "kafka", 0o755)
    os.chmod(paas_home / "kafka" / "registry.json", 0o644)

    daemon = DaemonThread(daemon_settings(paas_home)).start()
    try:
        err = capfd.readouterr().err
        lines = [line for line in err.splitlines() if "tightened permissions" in line]
        assert len(lines) == 1, err
        assert lines[0] == (
            "paas daemon: tightened permissions in PAAS_HOME (it holds config vars, passwords and keys): "
            f". 0755→{HOME_MODE:04o}, kafka 0755→0700, state.sqlite3 0644→0600, kafka/registry.json 0644→0600"
        )
        assert daemon.client().get("/apps/old/config-vars").json()["PASSWORD"] == "hunter2"
    finally:
        daemon.stop()
    for path, wanted in (("", HOME_MODE), ("state.sqlite3", 0o600), ("kafka/registry.json", 0o600)):
        assert stat.S_IMODE((paas_home / path).stat().st_mode) == wanted, path


def test_a_home_that_cannot_be_made_is_one_clear_line(tmp_path: Path) -> None:
    from tests.support.procs import PAAS, daemon_env

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    r = subprocess.run(
        [PAAS, "daemon"], env=daemon_env(blocker / "home"), capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1
    assert r.stderr == f" ›   Error: cannot create PAAS_HOME={blocker / 'home'}: Not a directory\n"
