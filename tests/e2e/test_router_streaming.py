"""1 GB up and 1 GB down through the router, in bounded memory.

The router runs as its own process (`python -m router`, uvloop, log lines into a real LogHub)
so its resident memory can be measured while the bytes flow; the dyno is a real process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.router_harness import LabDynoProcess

GB = 1 << 30
MB = 1 << 20
RSS_GROWTH_LIMIT = 64 * MB  # kernel socket buffers are not RSS; transport buffers are ~256 KiB each

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack() -> Iterator[tuple[int, psutil.Process]]:
    with LabDynoProcess() as dyno:
        proc = subprocess.Popen(
            [sys.executable, "-m", "router", "--port", "0", "--app", f"demo=127.0.0.1:{dyno.port}"],
            stdout=subprocess.PIPE,
            text=True,
            env=dict(
                os.environ, PYTHONPATH=str(ROOT), PAAS_ROUTER_TIMEOUT="30", PAAS_ROUTER_IDLE_TIMEOUT="30"
            ),
        )
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline().split()[1])
            yield port, psutil.Process(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)


class RssWatch:
    """Samples a process's RSS every 50 ms in a thread."""

    def __init__(self, proc: psutil.Process):
        self.proc = proc
        self.baseline = proc.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return int(self.peak - self.baseline)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "router closed before the response head"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _warm_up(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass


@pytest.mark.slow
def test_one_gigabyte_upload_streams_in_bounded_memory(stack: tuple[int, psutil.Process]) -> None:
    port, router = stack
    _warm_up(port)
    block = b"u" * MB
    with RssWatch(router) as rss, socket.create_connection(("127.0.0.1", port)) as s:
        started = time.monotonic()
        s.sendall(b"POST /sink HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: %d\r\n\r\n" % GB)
        for _ in range(GB // MB):
            s.sendall(block)
        head, rest = _read_head(s)
        elapsed = time.monotonic() - started
        assert head.startswith(b"HTTP/1.1 200")
        length = int(
            next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
        )
        body = rest
        while len(body) < length:
            body += s.recv(65536)
    assert json.loads(body)["bytes"] == GB
    print(f"upload 1 GiB: {GB / MB / elapsed:.0f} MiB/s, router RSS +{rss.growth / MB:.1f} MiB")
    assert rss.growth < RSS_GROWTH_LIMIT, f"router RSS grew {rss.growth / MB:.1f} MiB"


@pytest.mark.slow
def test_one_gigabyte_download_streams_in_bounded_memory(stack: tuple[int, psutil.Process]) -> None:
    port, router = stack
    _warm_up(port)
    with RssWatch(router) as rss, socket.create_connection(("127.0.0.1", port)) as s:
        started = time.monotonic()
        s.sendall(b"GET /bytes?n=%d HTTP/1.1\r\nHost: demo.localhost\r\n\r\n" % GB)
        head, rest = _read_head(s)
        assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: %d" % GB in head
        received = len(rest)
        buf = bytearray(MB)
        while received < GB:
            n = s.recv_into(buf)
            assert n, f"router closed after {received} bytes"
            received += n
        elapsed = time.monotonic() - started
    assert received == GB
    print(f"download 1 GiB: {GB / MB / elapsed:.0f} MiB/s, router RSS +{rss.growth / MB:.1f} MiB")
    assert rss.growth < RSS_GROWTH_LIMIT, f"router RSS grew {rss.growth / MB:.1f} MiB"


@pytest.mark.slow
def test_a_slow_reader_holds_the_download_back(stack: tuple[int, psutil.Process]) -> None:
    """Back-pressure: a client that reads slowly does not make the router buffer the body."""
    port, router = stack
    _warm_up(port)
    with RssWatch(router) as rss, socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(b"GET /bytes?n=%d HTTP/1.1\r\nHost: demo.localhost\r\n\r\n" % (256 * MB))
        received = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # 2 s of reading slowly
            received += len(s.recv(16 * 1024))
            time.sleep(0.01)
    assert received < 64 * MB
    assert rss.growth < 32 * MB, f"router RSS grew {rss.growth / MB:.1f} MiB while the client dawdled"
