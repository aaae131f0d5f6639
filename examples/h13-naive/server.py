"""A web server that shuts down the way Puma 3 did, so the router logs H13 during restarts.

Puma 3 (cluster mode) trapped SIGTERM, told its workers to finish, waited, then exited; its
listen socket closed only as a side effect of that exit. Meanwhile the kernel went on
completing TCP handshakes into the accept backlog. At exit those queued connections were
reset: the router saw "accepted, then closed without a byte" and logged H13.

This server copies that: a fixed pool of MAX_THREADS workers (like Puma threads), accepting
only when a worker is free, so a busy server always has connections waiting in the backlog.
On SIGTERM it stops accepting, lets the workers finish what they hold, and exits WITH the
listener still open until the very end. Compare examples/h13-draining/.

Endpoints: `/` (fast), `/work?ms=N` (N ms of "work"), `/health`.
Env: PORT (required), MAX_THREADS (default 2), SHUTDOWN_DELAY seconds spent "stopping
workers" after SIGTERM (default 0.5), HOST (default 127.0.0.1).
Standard library only.
"""

from __future__ import annotations

import os
import queue
import select
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

BACKLOG = 1024  # Puma's default backlog


def log(message: str) -> None:
    print(f"[{os.getpid()}] {message}", flush=True)


def bind_host() -> str:
    # loopback unless told otherwise (a container runtime publishing ports sets HOST=0.0.0.0)
    return os.environ.get("HOST") or "127.0.0.1"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "h13-naive"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/work":
            ms = float(parse_qs(url.query).get("ms", ["100"])[0])
            time.sleep(max(0.0, min(ms, 60_000.0)) / 1000)
        body = f"ok pid={os.getpid()} dyno={os.environ.get('DYNO', '?')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # quiet: the router logs requests
        pass


def worker(jobs: queue.Queue[socket.socket | None], free: threading.Semaphore) -> None:
    while True:
        conn = jobs.get()
        if conn is None:
            return
        try:
            Handler(conn, conn.getpeername(), None)  # type: ignore[arg-type]
        except OSError:
            pass
        finally:
            conn.close()
            free.release()


def main() -> int:
    port = int(os.environ["PORT"])
    threads = int(os.environ.get("MAX_THREADS", "2"))
    shutdown_delay = float(os.environ.get("SHUTDOWN_DELAY", "0.5"))

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((bind_host(), port))
    listener.listen(BACKLOG)

    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())

    jobs: queue.Queue[socket.socket | None] = queue.Queue()
    free = threading.Semaphore(threads)
    pool = [threading.Thread(target=worker, args=(jobs, free), daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    log(f"Listening on http://{bind_host()}:{port} (threads={threads}, backlog={BACKLOG}, naive shutdown)")

    while not stopping.is_set():
        if not free.acquire(timeout=0.2):  # accept only when a worker is free, like Puma
            continue
        ready, _, _ = select.select([listener, wake_r], [], [])
        if wake_r in ready or stopping.is_set():
            free.release()
            break
        try:
            conn, _ = listener.accept()
        except OSError:
            free.release()
            continue
        jobs.put(conn)

    # The Puma 3 mistake: stop accepting, but keep the listener open while shutting down.
    # Whatever the kernel queues meanwhile is reset when the process exits.
    log("- Gracefully stopping, waiting for requests to finish")
    for _ in pool:
        jobs.put(None)
    for t in pool:
        t.join()
    time.sleep(shutdown_delay)  # "stopping workers": the backlog keeps filling
    log("- Goodbye! (the listen socket closes only now, resetting queued connections)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
