"""Log drains against real receivers: rsyslog over TCP and TLS, an HTTPS server with the local
CA; a receiver that never reads; drains kept across a daemon restart; bad URLs refused.

Lines come from the platform itself: the router's H81 line for an app with nothing deployed (a
real request through the router) and the log hub's app lines.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.receivers import HttpsReceiver, Rsyslog, Unread, rsyslogd, wait_until
from tests.support.require import require

FRAME = re.compile(rb"(\d+) ")


def parse_frames(body: bytes) -> list[bytes]:
    """RFC 6587 octet counting: `<len> <msg>` repeated, nothing between."""
    frames, at = [], 0
    while at < len(body):
        m = FRAME.match(body, at)
        assert m is not None, body[at : at + 80]
        start = m.end()
        end = start + int(m.group(1))
        frames.append(body[start:end])
        at = end
    return frames


@pytest.fixture
def drained(paas_home: Path) -> Iterator[DaemonThread]:
    d = DaemonThread(daemon_settings(paas_home, drain_retry_base=0.05)).start()
    try:
        d.client().post("/apps", json={"name": "drained"}).raise_for_status()
        yield d
    finally:
        d.stop()


def app_line(d: DaemonThread, text: str, app: str = "drained") -> None:
    async def emit() -> None:
        d.d.logs.app_line(app, "web.1", text)

    d.call(emit)


def route_h81(d: DaemonThread) -> None:
    r = httpx.get(f"{d.router_url}/h81-path", headers={"Host": "drained.localhost"}, timeout=10)
    assert r.status_code == 503


def test_syslog_drain_reaches_rsyslog_as_rfc5424_octet_counted(drained: DaemonThread, tmp_path: Path) -> None:
    require(rsyslogd() is not None, "rsyslogd (Debian package rsyslog)")
    syslog = Rsyslog(tmp_path).start()
    try:
        c = drained.client()
        r = c.post("/apps/drained/log-drains", json={"url": f"syslog://127.0.0.1:{syslog.port}"})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert re.fullmatch(r"d\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", token)
        app_line(drained, "hello from the app")
        route_h81(drained)
        assert wait_until(lambda: len(syslog.lines()) >= 2), syslog.lines()
        rows = syslog.lines()
        assert [token, "app", "web.1", "-", "hello from the app"] in rows
        router = [r for r in rows if r[2] == "router"]
        assert router and router[0][:4] == [token, "heroku", "router", "-"]
        assert router[0][4].startswith('at=info code=H81 desc="Blank app"')
        assert 'path="/h81-path"' in router[0][4]
    finally:
        syslog.stop()


def test_syslog_tls_drain_with_the_local_ca(drained: DaemonThread, tmp_path: Path) -> None:
    """rsyslog's gtls stream driver (Debian package rsyslog-gnutls) with a local-CA certificate."""
    require(rsyslogd() is not None, "rsyslogd (Debian packages rsyslog, rsyslog-gnutls)")
    syslog = Rsyslog(tmp_path, ca=drained.d.ca).start()
    try:
        c = drained.client()
        url = f"syslog+tls://127.0.0.1:{syslog.port}"
        token = c.post("/apps/drained/log-drains", json={"url": url}).json()["token"]
        app_line(drained, "over TLS")
        assert wait_until(lambda: [token, "app", "web.1", "-", "over TLS"] in syslog.lines()), syslog.lines()
    finally:
        syslog.stop()


def test_https_drain_gets_logplex_batches_and_retries_with_the_same_frame_id(
    drained: DaemonThread,
) -> None:
    receiver = HttpsReceiver(drained.d.ca, answers=[503]).start()
    try:
        c = drained.client()
        r = c.post("/apps/drained/log-drains", json={"url": f"{receiver.url}/logs?x=1"})
        token = r.json()["token"]

        async def three() -> None:  # one batch, refused once, retried with nothing new to send
            for i in range(3):
                drained.d.logs.app_line("drained", "web.1", f"line {i}")

        drained.call(three)
        assert wait_until(lambda: sum(int(x.headers["logplex-msg-count"]) for x in receiver.received) >= 3)
        first, retried = receiver.attempts[0], receiver.received[0]
        assert (
            first.headers["logplex-frame-id"] == retried.headers["logplex-frame-id"]
        )  # the same batch again
        got = receiver.received[0]
        assert got.path == "/logs?x=1"
        assert got.headers["content-type"] == "application/logplex-1"
        assert got.headers["logplex-drain-token"] == token
        frames = [f for x in receiver.received for f in parse_frames(x.body)]
        assert len(frames) == sum(int(x.headers["logplex-msg-count"]) for x in receiver.received)
        assert re.fullmatch(
            rb"<190>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 "
            + token.encode()
            + rb" app web\.1 - line 0\n",
            frames[0],
        )
        status = c.get("/apps/drained/log-drains").json()[0]["status"]
        assert status["failures"] >= 1 and status["sent"] >= 3 and status["dropped"] == 0
    finally:
        receiver.stop()


def test_a_stalled_drain_drops_counts_and_says_l10(drained: DaemonThread) -> None:
    stalled = Unread()
    try:
        c = drained.client()
        c.post(
            "/apps/drained/log-drains", json={"url": f"syslog://127.0.0.1:{stalled.port}"}
        ).raise_for_status()

        async def flood() -> None:  # 20 MB: more than the kernel's socket buffers hold
            for i in range(20_000):
                drained.d.logs.app_line("drained", "web.1", f"filler {i} " + "x" * 1000)
                if i % 100 == 0:
                    await asyncio.sleep(0.001)  # the pump and the sender run meanwhile

        drained.call(flood)

        async def logplex_lines() -> list[str]:  # read on the daemon's loop, which appends to them
            return [line.text for line in drained.d.logs.recent("drained", 1500, dyno="logplex")]

        def l10() -> list[str]:
            return [text for text in drained.call(logplex_lines) if "L10" in text]

        assert wait_until(lambda: bool(l10()), 30)
        m = re.fullmatch(
            r"Error L10 \(output buffer overflow\): (\d+) messages dropped since "
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00\.",
            l10()[0],
        )
        assert m is not None, l10()
        dropped = c.get("/apps/drained/log-drains").json()[0]["status"]["dropped"]
        assert dropped >= int(m.group(1)) > 0
        assert c.get("/apps/drained/log-drains").json()[0]["status"]["buffered"] <= 1024
    finally:
        stalled.close()


def test_drains_are_kept_across_restarts_and_removed_by_url_or_token(paas_home: Path) -> None:
    d = DaemonThread(daemon_settings(paas_home)).start()
    try:
        c = d.client()
        c.post("/apps", json={"name": "kept"}).raise_for_status()
        one = c.post("/apps/kept/log-drains", json={"url": "syslog://127.0.0.1:9"}).json()
        two = c.post("/apps/kept/log-drains", json={"url": "https://127.0.0.1:9/logs"}).json()
    finally:
        d.stop()
    d = DaemonThread(daemon_settings(paas_home)).start()
    try:
        c = d.client()
        listed = c.get("/apps/kept/log-drains").json()
        assert [(x["url"], x["token"]) for x in listed] == [
            (one["url"], one["token"]),
            (two["url"], two["token"]),
        ]
        assert c.delete(f"/apps/kept/log-drains/{one['token']}").json()["url"] == "syslog://127.0.0.1:9"
        assert c.delete("/apps/kept/log-drains/https%3A%2F%2F127.0.0.1%3A9%2Flogs").status_code == 200
        assert c.get("/apps/kept/log-drains").json() == []
        r = c.delete(f"/apps/kept/log-drains/{one['token']}")
        assert r.status_code == 404 and r.json()["id"] == "not_found"
    finally:
        d.stop()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/x", "scheme must be one of"),
        ("syslog://", "names no host"),
        ("syslog+tls://logs.example.com", "needs a port"),
        ("syslog://127.0.0.1:99999", "port"),
        ("https://a b", "without spaces"),
        ("", "Url is invalid"),
    ],
)
def test_bad_drain_urls_are_refused_precisely(daemon: DaemonThread, url: str, says: str) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "picky"}).raise_for_status()
    r = c.post("/apps/picky/log-drains", json={"url": url})
    assert r.status_code == 422 and says in r.json()["message"], r.text
    assert c.get("/apps/picky/log-drains").json() == []


def test_the_same_url_twice_is_refused(daemon: DaemonThread) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "twice"}).raise_for_status()
    assert c.post("/apps/twice/log-drains", json={"url": "syslog://127.0.0.1:9"}).status_code == 201
    r = c.post("/apps/twice/log-drains", json={"url": "syslog://127.0.0.1:9"})
    assert r.status_code == 422 and r.json()["message"] == "Url has already been taken"


def test_cli_drains_add_list_remove(drained: DaemonThread) -> None:
    env = drained.env()

    def paas(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "paas.cli.main", *args, "-a", "drained"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert paas("drains").stdout.strip() == "drained has no drains."
    added = paas("drains:add", "syslog+tls://127.0.0.1:6514")
    assert (
        added.returncode == 0
        and added.stdout.strip() == "Successfully added drain syslog+tls://127.0.0.1:6514"
    )
    token = drained.client().get("/apps/drained/log-drains").json()[0]["token"]
    assert paas("drains").stdout.splitlines() == ["=== Drains", f"syslog+tls://127.0.0.1:6514 ({token})"]
    listed = json.loads(paas("drains", "--json").stdout)
    assert listed[0]["token"] == token and listed[0]["addon"] is None
    removed = paas("drains:remove", token)
    assert removed.stdout.strip() == "Successfully removed drain syslog+tls://127.0.0.1:6514"
    bad = paas("drains:add", "gopher://127.0.0.1:70")
    assert bad.returncode == 1 and "Url is invalid: the scheme must be one of" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_renamed_app_keeps_draining_and_a_destroyed_one_stops(drained: DaemonThread) -> None:
    receiver = HttpsReceiver(drained.d.ca).start()
    try:
        c = drained.client()
        c.post("/apps/drained/log-drains", json={"url": receiver.url}).raise_for_status()
        c.patch("/apps/drained", json={"name": "renamed"}).raise_for_status()
        app_line(drained, "after the rename", app="renamed")
        assert wait_until(lambda: any(b"after the rename" in x.body for x in receiver.received))
        assert [d["app"]["name"] for d in c.get("/apps/renamed/log-drains").json()] == ["renamed"]
        c.delete("/apps/renamed").raise_for_status()

        async def live() -> int:  # read on the daemon's loop
            return len(drained.d.drains.statuses())

        assert wait_until(lambda: drained.call(live) == 0)  # its sender stopped
        assert c.get("/apps/renamed/log-drains").status_code == 404
    finally:
        receiver.stop()
