"""The installed `paas` script and a real `paas daemon` process: heroku-redis and redis:*, the
interactive redis-cli on a pseudo-terminal, and a SIGKILLed daemon whose server is adopted."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import time
from pathlib import Path

import psutil
import pytest
import redis

from tests.e2e.test_crash_points import daemon as crash_daemon
from tests.support.procs import PAAS, DaemonProcess
from tests.support.redis import require_redis, servers_of

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def on_a_terminal(d: DaemonProcess, args: list[str], typed: str, timeout: float = 30) -> str:
    """Run the CLI with a pseudo-terminal as its terminal, type `typed`, return what it printed."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(PAAS, [PAAS, *args], {**d.env, "TERM": "dumb"})
    os.write(fd, typed.encode())
    output = b""
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


@pytest.fixture
def daemon_process(paas_home: Path) -> DaemonProcess:
    require_redis()
    return DaemonProcess(paas_home)


def test_redis_commands_from_the_cli(daemon_process: DaemonProcess) -> None:
    d = daemon_process
    try:
        d.wait_ready()
        assert d.cli("apps:create", "cache").returncode == 0
        none = d.cli("redis:cli", "-a", "cache", "-c", "PING")
        assert none.returncode == 1 and " ›   Error: No Redis instances found." in none.stderr
        assert d.cli("redis:info", "-a", "cache").stdout == ""  # as heroku: nothing to show

        r = d.cli("addons:create", "heroku-redis:mini", "-a", "cache")
        assert r.returncode == 0, r.stderr
        assert "Creating heroku-redis:mini on ⬢ cache... done" in r.stderr
        assert "as REDIS_TLS_URL, REDIS_URL" in r.stdout
        addon = json.loads(d.cli("addons", "-a", "cache", "--json").stdout)[0]["name"]

        info = d.cli("redis:info", "-a", "cache")
        assert info.returncode == 0, info.stderr
        assert info.stdout.startswith(f"=== {addon} (REDIS_TLS_URL, REDIS_URL)\n")
        for row in (
            "Plan:                   Mini",
            "Maxmemory:              noeviction",
            "Timeout:                300",
        ):
            assert row + "\n" in info.stdout
        alias = d.cli("redis", "-a", "cache").stdout  # heroku's alias
        assert alias.splitlines()[:6] == info.stdout.splitlines()[:6]

        r = d.cli("redis:cli", "-a", "cache", "-c", "SET greeting 'hello world'")
        assert r.returncode == 0 and r.stdout == "OK\n"
        assert f"Connecting to {addon} (REDIS_TLS_URL, REDIS_URL):" in r.stderr
        assert d.cli("redis:cli", "-a", "cache", "-c", "GET greeting").stdout == "hello world\n"
        bad = d.cli("redis:cli", "-a", "cache", "-c", "INCR greeting")
        assert bad.returncode == 1 and "(error) value is not an integer or out of range" in bad.stderr
        denied = d.cli("redis:cli", "-a", "cache", "-c", "CONFIG SET maxmemory 0")
        assert denied.returncode == 1 and "no permissions to run the 'config|set' command" in denied.stderr

        # interactive: Debian's redis-cli over TLS owns the terminal
        session = on_a_terminal(d, ["redis:cli", "-a", "cache"], "GET greeting\nquit\n")
        assert "hello world" in session and "127.0.0.1:" in session

        r = d.cli("redis:maxmemory", "-a", "cache", "--policy", "allkeys-lru")
        assert r.returncode == 0, r.stderr
        assert r.stdout == (
            f"Maxmemory policy for {addon} (REDIS_TLS_URL, REDIS_URL) set to allkeys-lru.\n"
            "allkeys-lru removes less recently used keys first.\n"
        )
        wrong = d.cli("redis:maxmemory", "-a", "cache", "--policy", "random")
        assert wrong.returncode == 1
        assert " ›   Error: Invalid policy 'random'. Policies: noeviction, allkeys-lfu," in wrong.stderr
        r = d.cli("redis:timeout", "-a", "cache", "--seconds", "60")
        assert r.stdout == (
            f"Timeout for {addon} (REDIS_TLS_URL, REDIS_URL) set to 60 seconds.\n"
            "Connections to the Redis instance will be stopped after idling for 60 seconds.\n"
        )
        r = d.cli("redis:timeout", "-a", "cache", "-s", "0")
        assert r.stdout.endswith("Connections to the Redis instance can idle indefinitely.\n")
        changed = d.cli("redis:info", "-a", "cache").stdout
        assert "Maxmemory:              allkeys-lru\n" in changed and "Timeout:                0\n" in changed

        url = d.cli("config:get", "REDIS_URL", "-a", "cache").stdout.strip()
        assert d.cli("redis:credentials", "-a", "cache").stdout == url + "\n"
        r = d.cli("redis:credentials", "-a", "cache", "--reset")
        assert r.returncode == 0 and r.stdout == f"Resetting credentials for {addon}\n"
        new_url = d.cli("config:get", "REDIS_URL", "-a", "cache").stdout.strip()
        assert new_url != url and new_url.startswith("rediss://:p")
        assert "Update REDIS by heroku-redis" in d.cli("releases", "-a", "cache").stdout
        assert d.cli("redis:cli", "-a", "cache", "-c", "GET greeting").stdout == "hello world\n"

        premium = d.cli("addons:create", "heroku-redis:premium-0", "-a", "cache", "--as", "SESSIONS")
        assert premium.returncode == 0, premium.stderr
        two = d.cli("redis:cli", "-a", "cache", "-c", "PING")
        assert two.returncode == 1 and "Please specify a single instance. Found: " in two.stderr
        assert d.cli("redis:cli", "SESSIONS", "-a", "cache", "-c", "PING").stdout == "PONG\n"
        both = d.cli("redis:info", "-a", "cache").stdout
        assert "Plan:                   Premium 0\n" in both and "(SESSIONS_TLS_URL, SESSIONS_URL)" in both

        assert d.cli("addons:destroy", addon, "-a", "cache", "--confirm", "cache").returncode == 0
        assert "REDIS_URL" not in d.cli("config", "-a", "cache").stdout
        assert len(list(servers_of(d.home))) == 1  # SESSIONS' server
        gone = d.cli("apps:destroy", "cache", "--confirm", "cache")
        assert gone.returncode == 0, gone.stderr
        assert list(servers_of(d.home)) == [] and list((d.home / "redis").iterdir()) == []
    finally:
        assert d.terminate() == 0
    assert list(servers_of(d.home)) == []


def test_a_sigkilled_daemons_server_is_adopted_not_started_twice(daemon_process: DaemonProcess) -> None:
    d = daemon_process
    home = d.home
    try:
        d.wait_ready()
        assert d.cli("apps:create", "kept").returncode == 0
        assert d.cli("addons:create", "heroku-redis", "-a", "kept").returncode == 0
        url = d.cli("config:get", "REDIS_URL", "-a", "kept").stdout.strip()
        assert d.cli("redis:cli", "-a", "kept", "-c", "SET visits 41").returncode == 0
        (server,) = servers_of(home)
    finally:
        d.kill()  # SIGKILL: no shutdown code runs

    # the server outlives the daemon and keeps answering its app
    assert server.is_running()
    with redis.Redis.from_url(url, ssl_cert_reqs=None) as r:
        assert r.incr("visits") == 42

    again = DaemonProcess(home)
    try:
        again.wait_ready()
        r = again.cli("redis:cli", "-a", "kept", "-c", "INCR visits")
        assert r.returncode == 0 and r.stdout == "43\n"
        assert [p.pid for p in servers_of(home)] == [server.pid]  # adopted: the same process, no second
    finally:
        assert again.terminate() == 0
    with contextlib.suppress(psutil.NoSuchProcess):
        server.wait(10)
    assert not server.is_running() and list(servers_of(home)) == []  # stopped with the daemon


@pytest.mark.parametrize("point", ["addon.after_provision", "addon.after_detach"])
def test_a_create_or_destroy_cut_short_leaves_no_server_behind(paas_home: Path, point: str) -> None:
    require_redis()
    with crash_daemon(paas_home, point) as armed:
        assert armed.api.post("/apps", json={"name": "crashkv"}).status_code == 201
        if point == "addon.after_detach":
            made = armed.api.post("/apps/crashkv/addons", json={"plan": "heroku-redis", "name": "redis-cut"})
            assert made.status_code == 201, made.text
            armed.crashes(lambda api: api.delete("/apps/crashkv/addons/redis-cut"))
        else:
            armed.crashes(
                lambda api: api.post(
                    "/apps/crashkv/addons", json={"plan": "heroku-redis", "name": "redis-cut"}
                )
            )
    (left,) = servers_of(paas_home)  # the SIGKILLed daemon's server runs on, for now

    with crash_daemon(paas_home) as d:
        assert d.api.get("/apps/crashkv/addons").json() == []
        assert not [k for k in d.api.get("/apps/crashkv/config-vars").json() if k.startswith("REDIS")]
        with contextlib.suppress(psutil.NoSuchProcess):
            left.wait(10)
        assert list(servers_of(paas_home)) == [] and not (paas_home / "redis" / "redis-cut").exists()
        made = d.api.post("/apps/crashkv/addons", json={"plan": "heroku-redis", "name": "redis-cut"})
        assert made.status_code == 201, made.text  # the name is free again
