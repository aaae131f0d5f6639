"""`heroku run`'s rendezvous listener, spoken to directly: TLS with the local CA's certificate
on 127.0.0.1, the secret line, the discarded first line, then the dyno's terminal."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.e2e.test_dynos_cli import WEB, deploy
from tests.support.daemon import DaemonThread


def _connect(daemon: DaemonThread, attach_url: str) -> ssl.SSLSocket:
    url = urlsplit(attach_url)
    assert url.scheme == "rendezvous" and url.hostname == "127.0.0.1"
    context = ssl.create_default_context(cafile=str(daemon.d.ca.cert_path))  # checks the IP SAN too
    raw = socket.create_connection((url.hostname, url.port or 0), timeout=30)
    return context.wrap_socket(raw, server_hostname=url.hostname)


def _read_all(conn: ssl.SSLSocket, deadline: float = 30) -> bytes:
    data = b""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"the connection stayed open: {data!r}")


def test_the_secret_line_opens_the_terminal_once(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "rdv", tmp_path, {"web": WEB})
    c = daemon.client()
    run = c.post(
        "/apps/rdv/dynos",
        json={"command": "read line; echo got-$line; exit 3", "attach": True, "force_no_tty": True},
    ).json()
    secret = run["attach_url"].rsplit("/", 1)[-1]
    with _connect(daemon, run["attach_url"]) as conn:
        conn.sendall(secret.encode() + b"\r\n")
        conn.sendall(b"hello\n\x04")  # the CLI's Ctrl-D at the end of its stdin
        data = _read_all(conn)
    assert data.startswith(b"rendezvous\r\n")
    assert b"got-hello" in data  # the dyno ended: the connection closed (no exit status on the wire)
    # single use: the same secret a second time is refused after the first line
    with _connect(daemon, run["attach_url"]) as conn:
        conn.sendall(secret.encode() + b"\r\n")
        again = _read_all(conn)
    assert again == b"rendezvous\r\npaas: unknown, expired or already used attach URL\r\n"
    assert daemon.d.rendezvous.refused >= 1


def test_a_wrong_secret_is_refused_and_the_listener_lives_on(daemon: DaemonThread) -> None:
    url = f"rendezvous://127.0.0.1:{daemon.d.rendezvous.port}/nothing"
    with _connect(daemon, url) as conn:
        conn.sendall(b"not-a-secret\r\n")
        assert b"already used attach URL" in _read_all(conn)
    with _connect(daemon, url) as conn:  # a line far too long is no secret either
        conn.sendall(b"x" * 4096 + b"\r\n")
        assert b"already used attach URL" in _read_all(conn)
    assert daemon.client().get("/health").status_code == 200
