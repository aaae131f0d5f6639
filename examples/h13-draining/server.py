"""A web server that shuts down the way Puma 4 does: no H13 during restarts.

Puma 4.0 (PR #1808) closes its listeners FIRST on SIGTERM, then lets workers finish. Once the
listen socket is closed, a new connection is refused (ECONNREFUSED), which the router treats
as "try another dyno" — no error for the client. Connections the kernel had already completed
into the accept backlog are taken off it before the close (closing a listener resets them),
and every accepted request gets its answer.

Same workers, backlog and endpoints as examples/h13-naive/; only the shutdown differs.
Endpoints: `/` (fast), `/work?ms=N` (N ms of "work"), `/health`.
Env: PORT (required), MAX_THREADS (default 2), SHUTDOWN_DELAY (default 0.5),
HOST (default 127.0.0.1). Standard library only.
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
    server_version = "h13-draining"

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


def serve(
    listener: socket.socket,
    wake_r: socket.socket,
    stopping: threading.Event,
    free: threading.Semaphore,
    jobs: queue.Queue[socket.socket | None],
) -> None:
    while not stopping.is_set():
        if not free.acquire(timeout=0.2):  # accept only when a worker is free, like Puma
            continue
        ready, _, _ = select.select([listener, wake_r], [], [])
        if wake_r in ready or stopping.is_set():
            free.release()
            return
        try:
            conn, _ = listener.accept()
        except OSError:
            free.release()
            continue
        jobs.put(conn)


def take_queued(listener: socket.socket, jobs: queue.Queue[socket.socket | None]) -> int:
    """The Puma 4 fix: take what the kernel already queued, then (the caller) close the listener
    at once, so any later connect is refused and the router retries elsewhere."""
    listener.setblocking(False)
    drained = 0
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:  # BlockingIOError included: the queue is empty
            return drained
        conn.setblocking(True)
        jobs.put(conn)
        drained += 1


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
    log(f"Listening on http://{bind_host()}:{port} (threads={threads}, backlog={BACKLOG}, draining shutdown)")

    serve(listener, wake_r, stopping, free, jobs)
    drained = take_queued(listener, jobs)
    listener.close()
    log(f"- Gracefully stopping: listener closed ({drained} queued connection(s) taken), finishing requests")
    for _ in pool:
        jobs.put(None)
    for t in pool:
        t.join()
    time.sleep(shutdown_delay)  # "stopping workers": harmless now, nothing can connect
    log("- Goodbye!")
    return 0


if __name__ == "__main__":
    sys.exit(main())
