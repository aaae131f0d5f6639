"""The lab's example apps, standalone, on real sockets: what they do at the socket is what the
router later names (no daemon involved here)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(example: str, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / example / "server.py")],
        env={**os.environ, "PORT": str(port), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{example} did not listen") from None
                time.sleep(0.05)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        assert proc.stdout is not None
        proc.stdout.close()


def http(port: int, path: str, timeout: float = 10.0, keep: socket.socket | None = None) -> str:
    """One request; returns the status line, "empty" (FIN, no byte), "reset" or "refused"."""
    try:
        sock = keep or socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except ConnectionRefusedError:
        return "refused"
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        if not data:
            return "empty"
        return data.split(b"\r\n", 1)[0].decode()
    except ConnectionResetError:
        return "reset"
    finally:
        if keep is None:
            sock.close()


def wait_for_line(proc: subprocess.Popen[bytes], text: str, timeout: float = 10) -> None:
    """Read the server's output until a line holds `text` (a reader thread: readline blocks)."""
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if text in line.decode(errors="replace"):
                seen.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert seen.wait(timeout), f"the server never said {text!r}"


def shutdown_under_load(example: str, closed_line: str) -> tuple[Counter[str], str, int]:
    """20 parallel requests to a one-thread server, SIGTERM while most wait in its backlog,
    then one more connect once the server says `closed_line` (how soon it notices the signal
    depends on the machine's load, so the test waits for what it says rather than a fixed time). Returns (outcomes, late connect, exit status)."""
    with (
        serve(example, MAX_THREADS="1", SHUTDOWN_DELAY="0.3") as (proc, port),
        ThreadPoolExecutor(20) as pool,
    ):
        futures = [pool.submit(http, port, "/work?ms=100") for _ in range(20)]
        time.sleep(0.35)
        proc.send_signal(signal.SIGTERM)
        wait_for_line(proc, closed_line)
        late = http(port, "/", timeout=5)
        outcomes = Counter(
            "200" if r.startswith("HTTP/1.1 200") else r for r in (f.result() for f in futures)
        )
        return outcomes, late, proc.wait(10)


def test_naive_server_resets_its_backlog_on_sigterm() -> None:
    outcomes, late, status = shutdown_under_load("h13-naive", closed_line="Gracefully stopping")
    assert outcomes["reset"] + outcomes["empty"] >= 5, outcomes  # queued connections reset at exit: H13
    assert outcomes["200"] >= 2
    assert late in ("reset", "empty")  # the listener still accepts after SIGTERM
    assert status == 0


def test_draining_server_answers_everything_and_refuses_new_connections() -> None:
    outcomes, late, status = shutdown_under_load("h13-draining", closed_line="listener closed")
    assert outcomes == Counter({"200": 20})
    assert late == "refused"  # ECONNREFUSED: the router retries another dyno
    assert status == 0


@pytest.fixture(scope="module")
def lab() -> Iterator[int]:
    with serve("lab", KEEPALIVE_TIMEOUT="0.3", KEEPALIVE_CLOSE_LAG="200") as (_proc, port):
        yield port


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "HTTP/1.1 200 OK"),
        ("/close", "empty"),
        ("/close?reset=1", "reset"),
        ("/malformed", "HTTP/1.1 200"),
        ("/nope", "HTTP/1.1 404 Not Found"),
        ("/memory?mb=bad", "HTTP/1.1 400 Bad Request"),
    ],
)
def test_lab_endpoint_first_line(lab: int, path: str, expected: str) -> None:
    assert http(lab, path) == expected


def read_all(port: int, path: str) -> tuple[bytes, str]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n".encode())
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
        end = "eof"
    except ConnectionResetError:
        end = "reset"
    sock.close()
    return data, end


def test_lab_partial_promises_more_than_it_sends(lab: int) -> None:
    data, end = read_all(lab, "/partial?bytes=1000&sent=100")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 1000" in head and len(body) == 100 and end == "eof"


def test_lab_pause_stalls_mid_body(lab: int) -> None:
    started = time.monotonic()
    data, _ = read_all(lab, "/pause?s=0.5")
    assert time.monotonic() - started >= 0.45
    assert data.endswith(b"second half\n")


def test_lab_cookie_and_eof(lab: int) -> None:
    data, _ = read_all(lab, "/cookie?bytes=9000")
    cookie = next(line for line in data.split(b"\r\n") if line.startswith(b"Set-Cookie:"))
    assert len(cookie) - len(b"Set-Cookie: ") == 9000
    data, end = read_all(lab, "/eof?bytes=50")
    assert b"Content-Length" not in data and data.endswith(b"e" * 50) and end == "eof"


def test_lab_keepalive_close_lag_resets_a_late_request(lab: int) -> None:
    sock = socket.create_connection(("127.0.0.1", lab), timeout=5)
    assert http(lab, "/", keep=sock).startswith("HTTP/1.1 200")
    time.sleep(0.4)  # past the 0.3 s idle timeout, inside the 200 ms close lag
    assert http(lab, "/", keep=sock) == "reset"  # unread request at close: RST (the router's H13)
    sock.close()


def test_lab_boot_delay_and_exit_on_boot() -> None:
    started = time.monotonic()
    with serve("lab", BOOT_DELAY="0.6") as (_proc, port):
        assert time.monotonic() - started >= 0.55
        assert http(port, "/").startswith("HTTP/1.1 200")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "lab" / "server.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "PORT": str(port), "EXIT_ON_BOOT": "3"},
        timeout=10,
    )
    assert proc.returncode == 3


def test_lab_crash_exits_mid_request() -> None:
    with serve("lab") as (proc, port):
        assert http(port, "/crash?status=7") in ("empty", "reset")
        assert proc.wait(5) == 7


def test_lab_sigterm_finishes_requests_then_refuses() -> None:
    with serve("lab") as (proc, port):
        result: dict[str, str] = {}
        slow = threading.Thread(target=lambda: result.setdefault("slow", http(port, "/slow?s=0.6")))
        slow.start()
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.15)
        late = http(port, "/")
        slow.join(5)
        assert result["slow"] == "HTTP/1.1 200 OK"
        assert late == "refused"
        assert proc.wait(5) == 0


def test_lab_memory_is_resident() -> None:
    import psutil

    with serve("lab") as (proc, port):
        before = psutil.Process(proc.pid).memory_info().rss
        assert http(port, "/memory?mb=64").startswith("HTTP/1.1 200")
        assert psutil.Process(proc.pid).memory_info().rss - before >= 60 * 1024 * 1024
