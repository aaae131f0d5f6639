"""The router-error lab app: one endpoint per condition the router (or the dyno manager) detects.

Nothing here prints an error code. Each endpoint makes a real condition happen on the socket
or in the process, and the platform names it:

  GET /                         200, who answered (dyno, pid)
  GET /headers                  200, the request headers as the dyno received them
  GET /bytes?n=N                200 with an N-byte body (Content-Length)
  GET /slow?s=N                 answer after N seconds               -> H12 when N > router timeout
  GET /work?ms=N                N ms of work, one request at a time  -> queues under load: the
                                per dyno (a single worker)              p95 autoscaling follows
  GET /close[?reset=1]          close without a byte (FIN, or RST)   -> H13
  GET /partial?bytes=N&sent=M   promise N body bytes, send M, close  -> H18
  GET /pause?s=N                send half the body, pause N s, rest  -> H15 when N > idle timeout
  GET /crash[?status=N]         the process exits at once            -> crash, restart; H10 in back-off
  GET /memory?mb=N[&free=1]     allocate (and keep) N MB more        -> R14 over quota, R15 at 2x
  GET /malformed[?kind=K]       K=noreason "HTTP/1.1 200" (default) or garbage -> H17
  GET /cookie?bytes=N           a Set-Cookie header of N bytes       -> H25 when N > 8192
  GET /eof?bytes=N              200 whose body ends when the connection closes (no length)
Env:
  PORT                the port to bind (required)
  BOOT_DELAY          seconds to wait before binding            -> R10 / H20 when long
  EXIT_ON_BOOT        exit with this status instead of booting  -> crash loop, H10
  KEEPALIVE_TIMEOUT   server idle timeout for kept-alive connections, seconds (default 5,
                      0 = close after every response)
  KEEPALIVE_CLOSE_LAG ms between the server giving up on an idle connection and its close
                      reaching the wire (default 50): the window in which a router reusing
                      the connection (Router 2.0) sends a request nobody will read -> H13
  HOST                bind address (default 127.0.0.1)
Standard library only; raw socket writes where http.server cannot misbehave on purpose.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

MB = 1024 * 1024
HELD: list[bytearray] = []  # memory kept by /memory
HELD_LOCK = threading.Lock()
BUSY = 0  # connections reading or answering a request (not idle keep-alive ones)
BUSY_LOCK = threading.Lock()
WORKER = threading.Lock()  # /work: one request at a time, as a single-process server would
KEEPALIVE_TIMEOUT = float(os.environ.get("KEEPALIVE_TIMEOUT", "5"))
CLOSE_LAG = float(os.environ.get("KEEPALIVE_CLOSE_LAG", "50")) / 1000


def log(message: str) -> None:
    print(message, flush=True)


def busy(delta: int) -> None:
    global BUSY
    with BUSY_LOCK:
        BUSY += delta


def readable(sock: socket.socket, timeout: float) -> bool:
    try:
        ready, _, _ = select.select([sock], [], [], timeout)
    except (OSError, ValueError):
        return False
    return bool(ready)


class LabHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "paas-lab"

    # --- keep-alive with a server idle timeout (the Router 2.0 race lives here) --------------
    def handle(self) -> None:
        self.close_connection = True  # BUSY was counted at accept (see accept_one)
        try:
            self.handle_one_request()
            while not self.close_connection:
                busy(-1)
                idle = not readable(self.connection, KEEPALIVE_TIMEOUT)
                busy(+1)
                if idle:
                    # Idle too long: this connection is dead to us from now on, but the FIN only
                    # leaves after CLOSE_LAG. A request sent meanwhile is never read: closing a
                    # socket with unread data sends RST.
                    time.sleep(CLOSE_LAG)
                    return
                self.handle_one_request()
        finally:
            busy(-1)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        route = ROUTES.get(url.path.rstrip("/") or "/")
        if route is None:
            self.reply(404, f"no lab endpoint {url.path}; try {', '.join(sorted(ROUTES))}\n")
            return
        try:
            route(self, q)
        except (BrokenPipeError, ConnectionResetError):  # the router gave up first (H12, H15...)
            self.close_connection = True
        except ValueError as exc:
            self.reply(400, f"bad parameter: {exc}\n")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.do_GET()

    do_HEAD = do_GET

    # --- helpers ---------------------------------------------------------------------------
    def reply(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if KEEPALIVE_TIMEOUT <= 0:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:  # the router logs requests
        pass

    def who(self) -> str:
        return f"dyno={os.environ.get('DYNO', '?')} pid={os.getpid()}"


# --- endpoints -----------------------------------------------------------------------------
def index(h: LabHandler, q: dict[str, str]) -> None:
    h.reply(200, f"lab ok {h.who()}\n")


def headers(h: LabHandler, q: dict[str, str]) -> None:
    h.reply(200, json.dumps(dict(h.headers.items()), indent=2) + "\n", {"Content-Type": "application/json"})


def nbytes(h: LabHandler, q: dict[str, str]) -> None:
    size = int(q.get("n", "1000"))
    if size < 0 or size > 64 * MB:
        raise ValueError("n must be between 0 and 67108864")
    h.reply(200, "b" * size)


def slow(h: LabHandler, q: dict[str, str]) -> None:
    seconds = float(q.get("s", "35"))
    time.sleep(max(0.0, seconds))
    h.reply(200, f"slow answer after {seconds}s {h.who()}\n")


def work(h: LabHandler, q: dict[str, str]) -> None:
    seconds = float(q.get("ms", "100")) / 1000
    if not 0 <= seconds <= 60:
        raise ValueError("ms must be between 0 and 60000")
    with WORKER:  # concurrent requests wait their turn: latency grows with load per dyno
        time.sleep(seconds)
    h.reply(200, f"worked {seconds * 1000:g} ms {h.who()}\n")


def close(h: LabHandler, q: dict[str, str]) -> None:
    if q.get("reset") in ("1", "true"):
        # linger 0: close() sends RST instead of FIN
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.close_connection = True  # nothing written: the router sees accepted-then-closed


def partial(h: LabHandler, q: dict[str, str]) -> None:
    total = int(q.get("bytes", "1000"))
    sent = min(int(q.get("sent", str(total // 10))), max(total - 1, 0))
    h.raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        + f"Content-Length: {total}\r\n\r\n".encode()
        + b"x" * sent
    )
    h.close_connection = True  # the promised rest never comes


def pause(h: LabHandler, q: dict[str, str]) -> None:
    seconds = float(q.get("s", "60"))
    body = b"first half;" + b"." * 53 + b"second half\n"
    h.raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:32]
    )
    time.sleep(max(0.0, seconds))
    h.raw(body[32:])


def crash(h: LabHandler, q: dict[str, str]) -> None:
    status = int(q.get("status", "1"))
    log(f"/crash: exiting with status {status}")
    os._exit(status)


def memory(h: LabHandler, q: dict[str, str]) -> None:
    with HELD_LOCK:
        if q.get("free") in ("1", "true"):
            HELD.clear()
        mb = int(q.get("mb", "0"))
        if mb < 0 or mb > 64 * 1024:
            raise ValueError("mb must be between 0 and 65536")
        for _ in range(mb // 16):  # 16 MB at a time, so other requests get the GIL meanwhile
            HELD.append(bytearray(b"\xa5") * (16 * MB))  # filled, so every page is resident
            time.sleep(0)
        if mb % 16:
            HELD.append(bytearray(b"\xa5") * (mb % 16 * MB))
        held = sum(len(b) for b in HELD) // MB
    log(f"/memory: holding {held} MB")
    h.reply(200, f"holding {held} MB {h.who()}\n")


def malformed(h: LabHandler, q: dict[str, str]) -> None:
    kind = q.get("kind", "noreason")
    if kind == "noreason":
        h.raw(b"HTTP/1.1 200\r\nContent-Length: 3\r\n\r\nok\n")  # no reason phrase
    elif kind == "garbage":
        h.raw(b"HTPT/1.1 two hundred\r\n\r\n")
    else:
        raise ValueError("kind must be noreason or garbage")
    h.close_connection = True


def cookie(h: LabHandler, q: dict[str, str]) -> None:
    size = int(q.get("bytes", "9000"))
    if size < 0 or size > 1024 * 1024:
        raise ValueError("bytes must be between 0 and 1048576")
    h.reply(200, f"cookie of {size} bytes\n", {"Set-Cookie": "big=" + "c" * max(0, size - 4)})


def eof(h: LabHandler, q: dict[str, str]) -> None:
    size = int(q.get("bytes", "100"))
    if size < 0 or size > 64 * MB:
        raise ValueError("bytes must be between 0 and 67108864")
    h.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" + b"e" * size)
    h.close_connection = True  # the close is the end of the body


ROUTES = {
    "/": index,
    "/headers": headers,
    "/slow": slow,
    "/work": work,
    "/close": close,
    "/partial": partial,
    "/pause": pause,
    "/crash": crash,
    "/memory": memory,
    "/malformed": malformed,
    "/cookie": cookie,
    "/eof": eof,
    "/bytes": nbytes,
}


def serve_connection(conn: socket.socket, addr: Any) -> None:
    try:
        LabHandler(conn, addr, None)  # type: ignore[arg-type]
    except OSError:
        pass
    finally:
        conn.close()


def main() -> int:
    exit_on_boot = os.environ.get("EXIT_ON_BOOT")
    if exit_on_boot:
        log(f"EXIT_ON_BOOT={exit_on_boot}: exiting before binding")
        return int(exit_on_boot)
    delay = float(os.environ.get("BOOT_DELAY", "0"))
    if delay > 0:
        log(f"Booting slowly: BOOT_DELAY={delay}s before binding $PORT")
        time.sleep(delay)
    port = int(os.environ["PORT"])
    host = os.environ.get("HOST") or "127.0.0.1"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    stopping = threading.Event()
    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    log(
        f"lab listening on http://{host}:{port} (keep-alive {KEEPALIVE_TIMEOUT}s, close lag {CLOSE_LAG * 1000:.0f}ms)"
    )
    while not stopping.is_set():
        ready, _, _ = select.select([listener, wake_r], [], [])
        if listener in ready and not stopping.is_set():
            accept_one(listener)
    # A well-behaved shutdown (like Puma 4): take what the kernel queued, close the listener
    # so new connects are refused, finish the requests in progress, then exit.
    listener.setblocking(False)
    while accept_one(listener):
        pass
    listener.close()
    deadline = time.monotonic() + 25
    while BUSY > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    log("SIGTERM: listener closed, requests finished, exiting")
    return 0


def accept_one(listener: socket.socket) -> bool:
    try:
        conn, addr = listener.accept()
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return False
    conn.setblocking(True)
    busy(+1)  # counted from accept, so a shutdown cannot miss it; LabHandler.handle uncounts it

    threading.Thread(target=serve_connection, args=(conn, addr), daemon=True).start()
    return True


if __name__ == "__main__":
    sys.exit(main())
