"""python-humanize: a paas example with one PyPI dependency (humanize), installed by the
Python buildpack into the slug's virtual environment. Serves $PORT on 127.0.0.1 (or $HOST:
a container dyno is given HOST=0.0.0.0)."""

import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import humanize

STARTED = time.time()


class InFlight(threading.Condition):
    count = 0


IN_FLIGHT = InFlight()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        with IN_FLIGHT:
            IN_FLIGHT.count += 1
        try:
            self.handle_get()
        finally:
            with IN_FLIGHT:
                IN_FLIGHT.count -= 1
                IN_FLIGHT.notify_all()

    def handle_get(self) -> None:
        up = humanize.naturaldelta(time.time() - STARTED)
        body = (
            f"Hello from {os.environ.get('DYNO', '?')}! humanize {humanize.__version__} says: "
            f"up for {up}, {humanize.intcomma(1234567)} requests would be a lot.\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stdout.write("%s\n" % (fmt % args))


def main() -> None:
    host = os.environ.get("HOST") or "127.0.0.1"
    server = ThreadingHTTPServer((host, int(os.environ.get("PORT", "5000"))), Handler)
    server.daemon_threads = True  # an idle keep-alive connection must not keep the dyno alive

    def stop(_signum: int, _frame: object) -> None:
        # serve_forever returns within one poll interval; main() then drains and closes.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"python-humanize listening on port {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.05)
    drain_and_close(server)


def drain_and_close(server: ThreadingHTTPServer) -> None:
    """Answer what is already in the listen backlog, then close the listener: a connection the
    router opened just before it learned of the SIGTERM gets its answer instead of a reset
    (which the router would log as H13). Requests being answered finish before the process exits."""
    server.socket.setblocking(False)
    while True:
        try:
            conn, addr = server.socket.accept()
        except (BlockingIOError, OSError):
            break
        conn.setblocking(True)
        server.process_request(conn, addr)
    server.socket.close()
    time.sleep(0.1)  # let the threads of just-accepted connections read their request
    with IN_FLIGHT:  # requests being answered finish (bounded: the platform SIGKILLs after 30 s)
        IN_FLIGHT.wait_for(lambda: IN_FLIGHT.count == 0, timeout=25)


if __name__ == "__main__":
    main()
