"""Real receivers for what the daemon sends out: a private rsyslogd (Debian's), an HTTPS
server with a certificate from the daemon's local CA, and a TCP listener that never reads.

Each listens on 127.0.0.1 only and records what it received, for the test to assert on.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from common.ca import LocalCA


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float = 20.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


def rsyslogd() -> str | None:
    return shutil.which("rsyslogd") or (
        "/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None
    )


class Rsyslog:
    """rsyslogd run privately: imtcp on a loopback port (gtls when `ca` is given), every
    message written to `out.log` as `hostname|app-name|procid|msgid|msg`."""

    def __init__(self, workdir: Path, ca: LocalCA | None = None):
        self.workdir = workdir
        self.port = free_port()
        self.out = workdir / "out.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        tls = ""
        if ca is not None:
            files = ca.server_files("rsyslog-test", ["127.0.0.1"])
            tls = (
                ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"'
                f' streamDriver.CAFile="{ca.cert_path}" streamDriver.CertFile="{files.cert_path}"'
                f' streamDriver.KeyFile="{files.key_path}"'
            )
        (workdir / "rsyslog.conf").write_text(
            f'global(workDirectory="{workdir}")\n'
            'module(load="imtcp")\n'
            f'input(type="imtcp" port="{self.port}" address="127.0.0.1"{tls})\n'
            'template(name="drain" type="string" '
            'string="%hostname%|%app-name%|%procid%|%msgid%|%msg%\\n")\n'
            f'action(type="omfile" file="{self.out}" template="drain")\n'
        )

    def start(self) -> Rsyslog:
        binary = rsyslogd()
        assert binary is not None
        self._stderr = (self.workdir / "rsyslog.stderr").open("wb")
        self.proc = subprocess.Popen(
            [binary, "-n", "-f", str(self.workdir / "rsyslog.conf"), "-i", str(self.workdir / "rsyslog.pid")],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        ok = wait_until(self._listening, 15)
        assert ok, f"rsyslogd did not listen: {(self.workdir / 'rsyslog.stderr').read_text()}"
        return self

    def _listening(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
            return True
        return False

    def lines(self) -> list[list[str]]:
        if not self.out.exists():
            return []
        return [line.split("|", 4) for line in self.out.read_text().splitlines()]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._stderr is not None:
            self._stderr.close()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpsReceiver:
    """An HTTPS server (local CA certificate) recording each POST; `answers` holds the status
    codes of the next requests (then 200); `stall` makes it wait that long before answering."""

    ca: LocalCA
    answers: list[int] = field(default_factory=list)
    stall: float = 0.0
    received: list[Received] = field(default_factory=list)
    attempts: list[Received] = field(default_factory=list)  # every request, answered or not

    def __post_init__(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                seen = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                receiver.attempts.append(seen)
                if receiver.stall:
                    time.sleep(receiver.stall)
                code = receiver.answers.pop(0) if receiver.answers else 200
                if 200 <= code < 300:
                    receiver.received.append(seen)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = self.ca.server_context("https-receiver-test", ["127.0.0.1"])
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> HttpsReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Unread:
    """A TCP listener that accepts and never reads: a stalled syslog drain."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()
