"""python-humanize: a paas example with one PyPI dependency (humanize), installed by the
Python buildpack into the slug's virtual environment. Serves 127.0.0.1:$PORT."""

import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import humanize

STARTED = time.time()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
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
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "5000"))), Handler)
    server.daemon_threads = False

    def stop(_signum: int, _frame: object) -> None:
        try:
            server.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        server.socket.close()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"python-humanize listening on port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    main()
