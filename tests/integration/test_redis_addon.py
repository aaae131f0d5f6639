"""heroku-redis against a real daemon and real redis-servers, driven with redis-py (plain and TLS).

One daemon serves the module (each test makes its own apps); restarts get their own homes.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from paas.addons.kvs.server import loopback_only
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.redis import require_redis, servers_of

pytestmark = [pytest.mark.redis, pytest.mark.slow]
MB = 1024 * 1024


@pytest.fixture(scope="module")
def kvs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonThread]:
    require_redis()
    home = tmp_path_factory.mktemp("kvs") / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home)).start()
    try:
        yield d
    finally:
        d.stop()


def create(
    c: httpx.Client, app: str, plan: str = "heroku-redis:mini", attachment: str | None = None
) -> dict[str, Any]:
    if c.get(f"/apps/{app}").status_code == 404:
        assert c.post("/apps", json={"name": app}).status_code == 201
    body: dict[str, Any] = {"plan": plan}
    if attachment:
        body["attachment"] = {"name": attachment}
    r = c.post(f"/apps/{app}/addons", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def creds(c: httpx.Client, app: str, database: str | None = None) -> dict[str, Any]:
    r = c.get(f"/apps/{app}/redis/credentials", params={"database": database} if database else {})
    assert r.status_code == 200, r.text
    return dict(r.json())


def info(c: httpx.Client, app: str) -> dict[str, Any]:
    r = c.get(f"/apps/{app}/redis")
    assert r.status_code == 200, r.text
    (only,) = r.json()
    return dict(only)


def tls_client(url: str, ca: str, **kw: Any) -> redis.Redis:
    return redis.Redis.from_url(url, ssl_ca_certs=ca, **kw)


def no_retry(**kw: Any) -> dict[str, Any]:
    return {"retry": Retry(NoBackoff(), 0), "socket_timeout": 10, **kw}


def server_pid(home: Path, addon: str) -> int:
    return int((home / "redis" / addon / "redis.pid").read_text())


def test_mini_answers_redis_py_over_tls_with_the_local_ca_and_plain(kvs: DaemonThread) -> None:
    with kvs.client() as c:
        addon = create(c, "kv-basic")
        assert addon["config_vars"] == ["REDIS_TLS_URL", "REDIS_URL"] and addon["name"].startswith("redis-")
        config = c.get("/apps/kv-basic/config-vars").json()
        assert config["REDIS_URL"] == config["REDIS_TLS_URL"]
        assert config["REDIS_URL"].startswith("rediss://:p") and "@127.0.0.1:" in config["REDIS_URL"]
        assert c.get("/apps/kv-basic/releases").json()[-1]["description"] == f"Attach REDIS ({addon['name']})"
        cr = creds(c, "kv-basic")
        ca = cr["ca_path"]

    # TLS, the server's certificate checked against the daemon's CA (and its host name)
    with tls_client(config["REDIS_URL"], ca) as r:
        assert r.set("greeting", "hello") is True
    # Heroku's own Python snippet (no verification) works unchanged
    with redis.Redis.from_url(config["REDIS_URL"], ssl_cert_reqs=None) as r:
        assert r.get("greeting") == b"hello"
    # plain redis:// on its own loopback port, same password, same data
    assert cr["plain_url"].startswith("redis://:") and cr["plain_port"] != cr["port"]
    with redis.Redis.from_url(cr["plain_url"]) as r:
        assert r.get("greeting") == b"hello"
        # the plan's limits are the server's own: the app's user cannot lift them
        with pytest.raises(redis.exceptions.NoPermissionError):
            r.config_set("maxmemory", "0")
        with pytest.raises(redis.exceptions.NoPermissionError):
            r.execute_command("SHUTDOWN")
        assert r.acl_whoami() == "default"

    # the certificate is the local CA's: a client trusting only the system's store refuses it
    with pytest.raises(redis.exceptions.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        redis.Redis.from_url(
            config["REDIS_URL"], **no_retry(ssl_ca_certs=ssl.get_default_verify_paths().cafile)
        ).ping()
    wrong = config["REDIS_URL"].replace(":p", ":x", 1)
    with pytest.raises(redis.exceptions.AuthenticationError):
        tls_client(wrong, ca, **no_retry()).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=cr["plain_port"], **no_retry()).get("greeting")

    # loopback only, under PAAS_HOME, private files
    home = kvs.settings.home
    pid = server_pid(home, addon["name"])
    assert loopback_only(pid)
    assert str(home / "redis" / addon["name"] / "redis.conf") in " ".join(psutil.Process(pid).cmdline())
    addon_dir = home / "redis" / addon["name"]
    assert stat.S_IMODE((home / "redis").stat().st_mode) == 0o700
    assert stat.S_IMODE(addon_dir.stat().st_mode) == 0o700
    for name in ("instance.json", "redis.conf", "redis.log"):
        assert stat.S_IMODE((addon_dir / name).stat().st_mode) == 0o600
    assert cr["password"] not in (addon_dir / "redis.conf").read_text()  # hashes only
    assert stat.S_IMODE((home / "ca" / "issued" / "redis.key").stat().st_mode) == 0o600

    i = info(kvs.client(), "kv-basic")
    rows = {row["name"]: row["values"][0] for row in i["info"]}
    assert rows["Plan"] == "Mini" and rows["Status"] == "available" and rows["Maxmemory"] == "noeviction"
    assert rows["Timeout"] == "300" and rows["Version"].startswith(("6.", "7.", "8."))
    assert i["limits"]["memory_limit"] == 25 * MB and i["limits"]["connection_limit"] == 20


def test_one_addons_credentials_cannot_read_anothers_keys(kvs: DaemonThread) -> None:
    with kvs.client() as c:
        create(c, "kv-alice")
        create(c, "kv-bob")
        alice, bob = creds(c, "kv-alice"), creds(c, "kv-bob")
    with tls_client(alice["url"], alice["ca_path"]) as r:
        r.set("secret", "alice's")
    assert (alice["port"], alice["plain_port"]) != (bob["port"], bob["plain_port"])
    # Alice's password on Bob's server, plain and TLS: refused
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=bob["plain_port"], password=alice["password"], **no_retry()).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(
            host="127.0.0.1", port=bob["port"], password=alice["password"], ssl=True,
            ssl_ca_certs=bob["ca_path"], **no_retry(),
        ).ping()  # fmt: skip
    with tls_client(bob["url"], bob["ca_path"]) as r:
        assert r.get("secret") is None and r.dbsize() == 0


def test_connection_and_memory_limits_are_enforced_by_the_server(kvs: DaemonThread) -> None:
    with kvs.client() as c:
        create(c, "kv-limits")
        cr = creds(c, "kv-limits")
    held = [
        redis.Redis.from_url(cr["plain_url"], single_connection_client=True, **no_retry()) for _ in range(20)
    ]
    try:
        for r in held:
            assert r.ping()
        with pytest.raises(redis.exceptions.ConnectionError, match="max number of clients reached"):
            redis.Redis.from_url(cr["plain_url"], **no_retry()).ping()
        # paas cannot get in either, and says so
        full = info(kvs.client(), "kv-limits")
        assert full["limits"]["connections"] == 20 and full["status"] == "available"
        note = {row["name"]: row["values"][0] for row in full["info"]}["Note"]
        assert "all 20 connections of its plan in use" in note
        refused = kvs.client().patch("/apps/kv-limits/redis/config", json={"timeout": 60})
        assert refused.status_code == 503 and "all 20 connections" in refused.json()["message"]
    finally:
        for r in held:
            r.close()
    assert info(kvs.client(), "kv-limits")["limits"]["timeout"] == 300  # the refused change left nothing

    value = b"x" * MB
    with redis.Redis.from_url(cr["plain_url"]) as r:
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            for n in range(40):
                r.set(f"blob:{n}", value)
        written = r.dbsize()
        assert 15 <= written < 25  # 25 MB, less the server's own share
        lru = kvs.client().patch("/apps/kv-limits/redis/config", json={"maxmemory_policy": "allkeys-lru"})
        assert lru.json()["maxmemory_policy"]["value"] == "allkeys-lru"
        for n in range(40, 80):
            r.set(f"blob:{n}", value)  # old keys go instead
        assert r.dbsize() < 25 and r.exists("blob:79") == 1
    limits = info(kvs.client(), "kv-limits")["limits"]
    assert limits["maxmemory_policy"] == "allkeys-lru" and limits["evicted_keys"] >= 40 - 25
    assert limits["memory_used"] <= 25 * MB

    with kvs.client() as c:
        create(c, "kv-premium", "heroku-redis:premium-0")
        premium = info(c, "kv-premium")
    assert premium["limits"]["memory_limit"] == 50 * MB and premium["limits"]["connection_limit"] == 40
    assert {row["name"]: row["values"][0] for row in premium["info"]}["Plan"] == "Premium 0"


def test_idle_timeout_closes_connections_and_bad_values_change_nothing(kvs: DaemonThread) -> None:
    with kvs.client() as c:
        create(c, "kv-idle")
        cr = creds(c, "kv-idle")
        bad_bodies = [
            {"timeout": -1},
            {"maxmemory_policy": "some-lru"},
            {"timeout": 5, "maxmemory_policy": "x"},
            {},
        ]
        refusals = [c.patch("/apps/kv-idle/redis/config", json=body) for body in bad_bodies]
        assert [r.status_code for r in refusals] == [422] * 4
        assert refusals[1].json()["message"].startswith("Invalid policy 'some-lru'. Policies: noeviction, ")
        before = info(c, "kv-idle")["limits"]
        assert (before["timeout"], before["maxmemory_policy"]) == (300, "noeviction")
        assert c.patch("/apps/kv-idle/redis/config", json={"timeout": 1}).json()["timeout"]["value"] == 1

    with socket.create_connection(("127.0.0.1", cr["plain_port"]), timeout=20) as s:
        s.sendall(f"AUTH {cr['password']}\r\n".encode())
        assert s.recv(100) == b"+OK\r\n"
        assert s.recv(100) == b""  # the server closed the idle connection (EOF), well before 20 s

    assert kvs.client().patch("/apps/kv-idle/redis/config", json={"timeout": 0}).status_code == 200
    with redis.Redis.from_url(cr["plain_url"], single_connection_client=True, **no_retry()) as r:
        r.ping()
        time.sleep(2.5)  # longer than the old timeout: with 0 nothing closes it
        assert r.ping()


def test_credentials_reset_ends_the_old_password_and_releases_new_urls(kvs: DaemonThread) -> None:
    with kvs.client() as c:
        first = create(c, "kv-rotate")
        second = create(c, "kv-rotate")  # the app has REDIS already: HEROKU_REDIS_<WORD>
        prefix = second["attachment"]
        assert prefix.startswith("HEROKU_REDIS_") and second["config_vars"] == [
            f"{prefix}_TLS_URL",
            f"{prefix}_URL",
        ]
        old = creds(c, "kv-rotate", second["name"])
        held = tls_client(old["url"], old["ca_path"], single_connection_client=True, **no_retry())
        held.set("kept", "yes")
        config_before = c.get("/apps/kv-rotate/config-vars").json()
        r = c.post("/apps/kv-rotate/redis/credentials-rotation", params={"database": second["attachment"]})
        assert r.status_code == 200, r.text
        after = c.get("/apps/kv-rotate/config-vars").json()
        release = c.get("/apps/kv-rotate/releases").json()[-1]
        ambiguous = c.post("/apps/kv-rotate/redis/credentials-rotation")
        assert c.post("/apps", json={"name": "kv-none"}).status_code == 201
        none = c.get("/apps/kv-none/redis/credentials")
        nothing = c.get("/apps/kv-none/redis")
    tls_var = f"{second['attachment']}_TLS_URL"
    assert after[tls_var] != config_before[tls_var] and after[f"{second['attachment']}_URL"] == after[tls_var]
    assert after["REDIS_URL"] == config_before["REDIS_URL"]  # the other add-on is untouched
    assert release["description"] == f"Update {second['attachment']} by heroku-redis"
    with pytest.raises(redis.exceptions.ConnectionError):
        held.ping()  # the connection the old password opened was closed
    with pytest.raises(redis.exceptions.AuthenticationError):
        tls_client(old["url"], old["ca_path"], **no_retry()).ping()
    with tls_client(after[tls_var], old["ca_path"]) as r:
        assert r.get("kept") == b"yes"
    assert ambiguous.status_code == 422
    found = ", ".join(sorted([first["name"], second["name"]]))
    assert ambiguous.json()["message"] == f"Please specify a single instance. Found: {found}"
    assert none.status_code == 404 and none.json()["message"] == "No Redis instances found."
    assert nothing.json() == []


def test_a_killed_server_comes_back_and_a_missing_redis_server_is_explained(
    kvs: DaemonThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    with kvs.client() as c:
        addon = create(c, "kv-crash")
        pid = server_pid(kvs.settings.home, addon["name"])
        server = psutil.Process(pid)
        server.kill()
        server.wait(10)
        assert info(c, "kv-crash")["status"] == "available"  # started again on first use
        again = server_pid(kvs.settings.home, addon["name"])
        assert again != pid and psutil.pid_exists(again)

        monkeypatch.setenv("PATH", "/nonexistent")
        r = c.post("/apps/kv-crash/addons", json={"plan": "heroku-redis:premium-0", "name": "redis-never-1"})
        assert r.status_code == 503
        assert (
            "redis-server is not installed" in r.json()["message"]
            and "apt-get install redis-server" in r.json()["message"]
        )
        assert [a["name"] for a in c.get("/apps/kv-crash/addons").json()] == [addon["name"]]
        assert not (kvs.settings.home / "redis" / "redis-never-1").exists()
        bad_plan = c.post("/apps/kv-crash/addons", json={"plan": "heroku-redis:premium-6"})
        assert bad_plan.status_code == 422 and "premium-0" in bad_plan.json()["message"]


def test_restart_keeps_data_destroy_removes_it_and_leftovers_are_cleaned(tmp_path: Path) -> None:
    require_redis()
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home)).start()
    try:
        with d.client() as c:
            addon = create(c, "kv-keep")
            leftover = create(c, "kv-leftover")
            url = c.get("/apps/kv-keep/config-vars").json()["REDIS_URL"]
            ca = creds(c, "kv-keep")["ca_path"]
        with tls_client(url, ca) as r:
            r.set("survives", "a restart")
        pid = server_pid(home, addon["name"])
    finally:
        d.stop()
    assert not psutil.pid_exists(pid) and list(servers_of(home)) == []  # stopped with the daemon

    # as if the daemon had died while creating `kv-leftover`'s add-on
    with sqlite3.connect(home / "state.sqlite3") as db:
        db.execute("UPDATE addons SET state = 'provisioning' WHERE name = ?", (leftover["name"],))
    # ... and in the middle of `redis:credentials --reset` of `kv-keep`'s: the new password saved,
    # neither the server nor the app's config told yet
    state_path = home / "redis" / addon["name"] / "instance.json"
    state = json.loads(state_path.read_text())
    state.update(password="p" + "1" * 64, config_pending=True)
    state_path.write_text(json.dumps(state))
    url = url.replace(url[url.index(":p") + 1 : url.index("@")], state["password"])

    d = DaemonThread(daemon_settings(home)).start()
    try:
        with d.client() as c:
            assert info(c, "kv-keep")["status"] == "available"
            assert c.get("/apps/kv-keep/config-vars").json()["REDIS_URL"] == url  # the reset finished
            assert c.get("/apps/kv-keep/releases").json()[-1]["description"] == "Update REDIS by heroku-redis"
            with tls_client(url, ca) as r:
                assert r.get("survives") == b"a restart"  # append-only file, same URL
            deadline = time.monotonic() + 30
            while (home / "redis" / leftover["name"]).exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not (home / "redis" / leftover["name"]).exists()
            running = list(servers_of(home))
            assert [p.pid for p in running] == [server_pid(home, addon["name"])]

            r = c.delete(f"/apps/kv-keep/addons/{addon['name']}")
            assert r.status_code == 200, r.text
            assert not (home / "redis" / addon["name"]).exists()
            assert list(servers_of(home)) == []
            assert "REDIS_URL" not in c.get("/apps/kv-keep/config-vars").json()
    finally:
        d.stop()
