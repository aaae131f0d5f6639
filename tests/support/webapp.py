"""A tiny stdlib web app deployed as a real release (Procfile only: no dependencies to install).

`/` answers 200, `/missing` 404, `/boom` 500, `/slow?ms=N` 200 after N milliseconds.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.daemon import DaemonThread

WEB_APP = """
import os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urlsplit(self.path)
        status = {"/missing": 404, "/boom": 500}.get(url.path, 200)
        if url.path == "/slow":
            time.sleep(int(parse_qs(url.query).get("ms", ["0"])[0]) / 1000)
        body = f"{os.environ.get('DYNO')} {self.path}\\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def deploy_web_app(daemon: DaemonThread, src: Path, app: str) -> None:
    src.mkdir()
    (src / "app.py").write_text(WEB_APP)
    (src / "Procfile").write_text("web: python3 app.py\n")
    created = daemon.cli("apps:create", app)
    assert created.returncode == 0, created.stderr
    deployed = daemon.cli("deploy", str(src), "-a", app)
    assert deployed.returncode == 0, deployed.stderr
