"""hello: the paas sample app. Standard library only.

Answers on $PORT (on 127.0.0.1, or on $HOST: a container dyno is given HOST=0.0.0.0, its
own network's every interface) with a page showing which dyno ($DYNO) and release served it.
On SIGTERM it stops accepting at once (the router then retries another dyno instead of
logging H13), finishes the requests it already accepted, and exits.
"""

import html
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{app} on paas</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; color: #2d2a3e; }}
h1 {{ color: #6762a6; }} code {{ background: #f1eff9; padding: .1rem .3rem; border-radius: 3px; }}
</style></head>
<body>
<h1>{greeting}</h1>
<p>This page was served by dyno <code>{dyno}</code> of <code>{app}</code>,
release <code>{release}</code>, up for {uptime:.0f} s.</p>
<p>Deploy a change with <code>git push paas main</code> and reload.</p>
</body></html>
"""


def release() -> str:
    """v12 with `paas features:enable runtime-dyno-metadata`, else the commit the slug was built from."""
    version = os.environ.get("HEROKU_RELEASE_VERSION")
    if version:
        return version
    source = os.environ.get("SOURCE_VERSION", "")
    return f"built from {source[:8]}" if source else "unknown"


class InFlight(threading.Condition):
    count = 0


IN_FLIGHT = InFlight()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hello"

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
        info = {
            "app": os.environ.get("APP_NAME", "hello"),
            "dyno": os.environ.get("DYNO", "?"),
            "release": release(),
            "greeting": os.environ.get("GREETING", "Hello from paas!"),
            "uptime": time.time() - STARTED,
        }
        if self.path.startswith("/json"):
            body = json.dumps(info).encode()
            ctype = "application/json"
        else:
            body = PAGE.format(
                **{k: html.escape(str(v)) if isinstance(v, str) else v for k, v in info.items()}
            ).encode()
            ctype = "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stdout.write("%s\n" % (fmt % args))


def main() -> None:
    port = int(os.environ.get("PORT", "5000"))
    bind_host = os.environ.get("HOST") or "127.0.0.1"
    # BOOT_DELAY=2 (a config var) makes the dyno take that long to bind $PORT: a slow boot to
    # watch the router hold requests during a restart, or preboot avoid holding them at all.
    time.sleep(float(os.environ.get("BOOT_DELAY", "0") or 0))
    server = ThreadingHTTPServer((bind_host, port), Handler)
    server.daemon_threads = True  # an idle keep-alive connection must not keep the dyno alive

    def stop(_signum: int, _frame: object) -> None:
        # serve_forever returns within one poll interval; main() then drains and closes.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"hello listening on {bind_host}:{port} as {os.environ.get('DYNO', '?')}", flush=True)
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
